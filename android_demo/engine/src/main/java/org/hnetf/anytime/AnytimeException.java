package org.hnetf.anytime;

/** Bad input to the engine at run time: NaN logits, an image of the wrong size, a slot of the wrong size. */
public class AnytimeException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public AnytimeException(String message) {
    super(message);
  }

  public AnytimeException(String message, Throwable cause) {
    super(message, cause);
  }
}
