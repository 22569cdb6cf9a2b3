package org.hnetf.anytime;

/**
 * The manifest is malformed, of another format or version, or does not match the model file behind
 * the {@link StepRunner} (a missing signature, slot shapes that differ).
 */
public class ManifestException extends AnytimeException {
  private static final long serialVersionUID = 1L;

  public ManifestException(String message) {
    super(message);
  }

  public ManifestException(String message, Throwable cause) {
    super(message, cause);
  }
}
