package org.sdpo.verifiers;

/**
 * A task, its reference solution, a plausible wrong attempt (a mutation of a correct one) and the
 * verdict the environment gives that attempt (at the environment's feedback level).
 */
public record TeachingExample(Task task, String solution, String wrongAttempt, Verdict verdict) {}
