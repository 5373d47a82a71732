package org.sdpo.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gemma3;
import org.sdpo.transformer.Gemma3Config;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.Llama;
import org.sdpo.transformer.LlamaConfig;
import org.sdpo.transformer.RopeConfig;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.ChatTemplate;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo init --arch qwen3 --out DIR}: a randomly initialised model of any supported
 * architecture, written as a Hugging Face checkpoint directory with a tokenizer (character-level,
 * or copied from another model) and optionally a chat template, so the whole SDPO loop can run on
 * that architecture without downloading anything.
 */
@Command(name = "init", mixinStandardHelpOptions = true,
    description = "Write a randomly initialised gpt2, llama, mistral, qwen2, qwen3, olmo2 or"
        + " gemma3_text checkpoint.")
final class InitCommand implements Callable<Integer> {
  @Option(names = "--arch", required = true,
      description = "gpt2, llama, mistral, qwen2, qwen3, olmo2 or gemma3_text.")
  String arch;

  @Option(names = "--out", required = true, description = "Directory to write.") Path out;
  @Option(names = "--layers", description = "default: ${DEFAULT-VALUE}") int layers = 2;
  @Option(names = "--hidden", description = "hidden_size / n_embd (default: ${DEFAULT-VALUE})")
  int hidden = 64;
  @Option(names = "--heads", description = "default: ${DEFAULT-VALUE}") int heads = 4;
  @Option(names = "--kv-heads", description = "key/value heads (default: heads / 2)")
  Integer kvHeads;
  @Option(names = "--head-dim", description = "default: hidden / heads") Integer headDim;
  @Option(names = "--intermediate", description = "SwiGLU / GELU gate width (default: 3 * hidden)")
  Integer intermediate;
  @Option(names = "--positions", description = "longest context (default: ${DEFAULT-VALUE})")
  int positions = 512;
  @Option(names = "--untied", description = "An LM head of its own (default: tied).")
  boolean untied;
  @Option(names = "--rope-theta", description = "default: 1e6 for Qwen and Gemma 3 (its full "
      + "layers; 1e4 on sliding ones), 1e4 for Llama")
  Double ropeTheta;
  @Option(names = "--tokenizer", description = "Copy the tokenizer (and chat template) of this "
      + "model directory (default: a character-level ASCII tokenizer).")
  Path tokenizer;
  @Option(names = "--chat-template", description = "A Jinja chat template file to include "
      + "(written as chat_template.jinja).")
  Path chatTemplate;
  @Option(names = "--seed", description = "default: ${DEFAULT-VALUE}") long seed = 1;
  @Option(names = "--overwrite", description = "Write over a checkpoint already in --out.")
  boolean overwrite;

  @Override
  public Integer call() throws Exception {
    RunDirectory.checkNew(out, RunDirectory.CHECKPOINT, overwrite, "a checkpoint",
        "--overwrite replaces it");
    Tokenizer tok = tokenizer == null ? CharTokenizer.ascii() : Tokenizer.load(tokenizer);
    int vocab = tok.vocabSize();
    Rng rng = new Rng(seed);
    CausalLm model;
    if (arch.equals("gpt2")) {
      model = Gpt.init(GptConfig.of(vocab, positions, hidden, layers, heads), DType.FLOAT32, rng);
    } else if (LlamaConfig.TYPES.contains(arch)) {
      int kv = kvHeads != null ? kvHeads : Math.max(1, heads / 2);
      int hd = headDim != null ? headDim : hidden / Math.max(1, heads);
      boolean qwen = arch.startsWith("qwen");
      LlamaConfig c = new LlamaConfig(arch, vocab, hidden,
          intermediate != null ? intermediate : 3 * hidden, layers, heads, kv, hd, positions,
          qwen ? 1e-6 : 1e-5, RopeConfig.plain(ropeTheta != null ? ropeTheta : qwen ? 1e6 : 1e4),
          !untied, false, false);
      model = Llama.init(c, DType.FLOAT32, rng);
    } else if (arch.equals(Gemma3Config.TYPE)) {
      // every sixth layer full, as Gemma 3's; the window as long as the context
      Gemma3Config c = new Gemma3Config(vocab, hidden,
          intermediate != null ? intermediate : 3 * hidden, layers, heads,
          kvHeads != null ? kvHeads : Math.max(1, heads / 2),
          headDim != null ? headDim : hidden / Math.max(1, heads), positions, 1e-6,
          RopeConfig.plain(ropeTheta != null ? ropeTheta : 1e6), RopeConfig.plain(1e4), positions,
          Gemma3Config.pattern(layers, 6), !untied);
      model = Gemma3.init(c, DType.FLOAT32, rng);
    } else {
      throw new IllegalArgumentException("--arch " + arch
          + " is not one of gpt2, llama, mistral, qwen2, qwen3, olmo2, gemma3_text");
    }
    Files.createDirectories(out);
    Checkpoint.removeFiles(out); // with --overwrite: nothing of the checkpoint before stays
    Checkpoint.save(model, tok, out, Map.of("producer", "sdpo init", "seed", Long.toString(seed)));
    Path template = chatTemplate;
    if (template == null && tokenizer != null && Files.exists(tokenizer.resolve(ChatTemplate.FILE))) {
      template = tokenizer.resolve(ChatTemplate.FILE);
    }
    if (template != null) {
      ChatTemplate.of(org.sdpo.transformer.io.TextFiles.readString(template), Map.of()); // it must compile
      Files.copy(template, out.resolve(ChatTemplate.FILE), StandardCopyOption.REPLACE_EXISTING);
    }
    System.out.printf(Locale.ROOT, "wrote %s: %s, %,d parameters, vocabulary %d, context %d%s, seed %d%n",
        out, arch, model.config().parameterCount(), vocab, positions,
        ChatTemplate.exists(out) ? ", chat template" : "", seed);
    return 0;
  }
}
