package org.hnetf.demo

import org.hnetf.anytime.Rule
import org.hnetf.anytime.StoppingRule

/** Where the interpreter runs the graph. */
enum class Delegate { CPU, XNNPACK, GPU }

/** The anytime file step by step, or one fixed per-prefix file of k leaves. */
enum class Mode { ANYTIME, FIXED }

/**
 * Configures [AnytimeClassifierHelper], as the options object of LiteRT's image-classification
 * sample configures its helper.
 */
data class AnytimeOptions(
    /** Interpreter threads. */
    val threads: Int = 2,
    val delegate: Delegate = Delegate.XNNPACK,
    /** Per-image time budget in ms (the deadline rule); null: no budget. */
    val timeBudgetMs: Double? = null,
    /** Stop once the ensemble's max probability reaches this; 1.0 never stops early. */
    val confidence: Double = 1.0,
    /** Run at most this many leaves; null: all of them. */
    val maxLeaves: Int? = null,
    val mode: Mode = Mode.ANYTIME,
    /** The prefix size k of the fixed file in [Mode.FIXED]. */
    val fixedK: Int = 1,
) {
    init {
        require(threads >= 1) { "threads must be at least 1, got $threads" }
    }

    /**
     * The engine's rule for these options: the next leaf runs only while it fits the time budget,
     * the confidence is below the threshold and fewer than [maxLeaves] ran. Out-of-range values
     * throw IllegalArgumentException with the engine's message.
     */
    fun rule(numSteps: Int): Rule {
        val rules = mutableListOf(
            StoppingRule.leaves(maxLeaves ?: numSteps),
            StoppingRule.confidence(confidence),
        )
        timeBudgetMs?.let { rules += StoppingRule.deadline(it) }
        return Rule.all(*rules.toTypedArray())
    }

    /** Whether switching to [other] needs new interpreters. */
    fun needsNewInterpreter(other: AnytimeOptions): Boolean =
        threads != other.threads || delegate != other.delegate
}
