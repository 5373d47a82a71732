package org.sdpo.cli.tutorial;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.sdpo.core.Reprompt;
import org.sdpo.core.TeachingCorpus;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.train.Pretrainer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Verifiers;

/**
 * Tutorial 3: training a character-level GPT from scratch. The corpus is the code environment's
 * teaching material (questions with solutions, and the same with feedback or a demonstration in
 * the context); the tokenizer maps each printable ASCII character to one token. The pre-trainer
 * samples random windows of the token stream and minimises next-token cross-entropy with AdamW.
 */
public final class T3TrainGpt {
  private T3TrainGpt() {}

  /** Trains {@code steps} steps into {@code out} and returns the last loss. */
  public static double run(PrintStream out, Path dir, int steps) throws Exception {
    Files.createDirectories(dir);
    // 1. the corpus: one JSON line {"text": ...} per document
    Environment env = Verifiers.byName("code").withFeedback(FeedbackLevel.FULL);
    List<String> docs = TeachingCorpus.documents(env, 400, 1, Reprompt.Templates.reference(),
        new TeachingCorpus.Mix(1, 3, true, 1.0));
    Path corpus = dir.resolve("corpus.jsonl");
    Files.write(corpus, TeachingCorpus.jsonl(docs), StandardCharsets.UTF_8);
    out.println(docs.size() + " documents; the first one:\n" + docs.get(0) + "\n");

    // 2. the model and the optimisation: 2 layers, 2 heads of 32 dims, context 256 characters
    CharTokenizer tok = CharTokenizer.ascii();
    Pretrainer.Config c = new Pretrainer.Config(corpus, dir.resolve("gpt"), 2, 2, 64, 256, 8,
        steps, 3e-3, 3e-4, 20, 0.1, 1.0, 1, 1337, steps);
    out.println("config: " + c.toJson());

    // 3. train; the listener sees every step (loss starts near ln(100) = 4.6)
    Pretrainer.Metrics last = Pretrainer.run(c, tok, false, m -> {
      if (m.step() == 1 || m.step() % 50 == 0 || m.step() == steps) {
        out.printf(Locale.ROOT, "step %4d  loss %.3f  lr %.2e  grad norm %.2f  %.0f tokens/s%n",
            m.step(), m.loss(), m.lr(), m.gradNorm(), m.tokensPerSecond());
      }
    });
    out.println("checkpoint (model.safetensors, config.json, tokenizer) in " + c.out());
    return last.loss();
  }
}
