package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.io.Safetensors;

/** Llama-family checkpoints as Hugging Face writes them: names, tying, BF16 shards, errors. */
class LlamaCheckpointTest {
  @TempDir Path dir;
  static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void roundTripsBitForBitWithHuggingFaceNamesAndNoDuplicateTiedHead() throws Exception {
    for (boolean tied : new boolean[] {true, false}) {
      LlamaConfig c = new LlamaConfig("qwen3", 29, 16, 24, 2, 4, 2, 6, 64, 1e-6,
          RopeConfig.plain(1e6), tied, false, false);
      Llama m = Llama.init(c, DType.FLOAT32, new Rng(5));
      Path d = dir.resolve("m" + tied);
      Checkpoint.save(m, null, d, null);
      JsonNode cfg = JSON.readTree(d.resolve("config.json").toFile());
      assertThat(cfg.get("model_type").asText()).isEqualTo("qwen3");
      assertThat(cfg.get("architectures").get(0).asText()).isEqualTo("Qwen3ForCausalLM");
      assertThat(cfg.get("head_dim").asInt()).isEqualTo(6);
      assertThat(cfg.get("tie_word_embeddings").asBoolean()).isEqualTo(tied);
      List<String> names = new ArrayList<>();
      Safetensors.header(d.resolve("model.safetensors")).forEach(e -> names.add(e.name()));
      assertThat(names.contains("lm_head.weight")).isEqualTo(!tied);
      assertThat(names).contains("model.layers.1.self_attn.k_norm.weight");
      CausalLm back = Checkpoint.load(d, DType.FLOAT32);
      assertThat(back.config()).isEqualTo(c);
      m.namedParameters().forEach((n, v) -> assertThat(
          back.namedParameters().get(n).value().toFloatArray()).as(n)
          .containsExactly(v.value().toFloatArray()));
    }
  }

  /**
   * Mistral is Llama's computation under another name, with a sliding window: within the window
   * (the context it caps) the logits are the Llama twin's bit for bit, and the window and the name
   * survive a save. Its projections never have biases (attention_bias is ignored, as in
   * Hugging Face's MistralAttention); a sequence longer than the window is refused by name.
   */
  @Test
  void mistralIsLlamaWithinItsSlidingWindow() throws Exception {
    LlamaConfig llama = new LlamaConfig("llama", 31, 16, 24, 2, 4, 2, 4, 64, 1e-6,
        RopeConfig.plain(1e6), false, false, false);
    Llama twin = Llama.init(llama, DType.FLOAT32, new Rng(9));
    Path d = dir.resolve("mistral");
    Checkpoint.save(twin, null, d, null);
    ObjectNode cfg = (ObjectNode) JSON.readTree(d.resolve("config.json").toFile());
    cfg.put("model_type", "mistral").put("sliding_window", 8).put("attention_bias", true);
    cfg.remove("mlp_bias");
    Files.writeString(d.resolve("config.json"), cfg.toString());
    CausalLm m = Checkpoint.load(d, DType.FLOAT32);
    LlamaConfig mc = (LlamaConfig) m.config();
    assertThat(mc.modelType()).isEqualTo("mistral");
    assertThat(mc.slidingWindow()).isEqualTo(8);
    assertThat(mc.qkvBias()).isFalse();
    assertThat(mc.nPositions()).isEqualTo(8);
    assertThat(mc.nPositionsKey()).isEqualTo("sliding_window");
    int[] ids = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};
    assertThat(m.forward(ids, 2, 8).value().toFloatArray())
        .containsExactly(twin.forward(ids, 2, 8).value().toFloatArray());
    assertThatThrownBy(() -> m.forward(java.util.Arrays.copyOf(ids, 9), 1, 9))
        .hasMessageContaining("sliding_window=8");
    Path again = dir.resolve("mistral-again");
    Checkpoint.save(m, null, again, null);
    JsonNode back = JSON.readTree(again.resolve("config.json").toFile());
    assertThat(back.get("model_type").asText()).isEqualTo("mistral");
    assertThat(back.get("architectures").get(0).asText()).isEqualTo("MistralForCausalLM");
    assertThat(back.get("sliding_window").asInt()).isEqualTo(8);
    assertThat(back.get("max_position_embeddings").asInt()).isEqualTo(64);
    assertThat(Checkpoint.load(again, DType.FLOAT32).config()).isEqualTo(mc);
    // no window (Mistral v0.2 and later write null): the full context
    cfg.putNull("sliding_window");
    Files.writeString(d.resolve("config.json"), cfg.toString());
    assertThat(Checkpoint.load(d, DType.FLOAT32).config().nPositions()).isEqualTo(64);
    cfg.put("sliding_window", 0);
    Files.writeString(d.resolve("config.json"), cfg.toString());
    assertThatThrownBy(() -> Checkpoint.load(d, DType.FLOAT32))
        .hasMessageContaining("\"sliding_window\" must be positive or null, got 0");
  }

  @Test
  void readsBf16ShardsAndIgnoresRotaryBuffersAndATiedDuplicateHead() throws Exception {
    Path src = Path.of("src/test/resources/fixtures/llama-tied");
    Map<String, Tensor> w = Safetensors.read(src.resolve("model.safetensors"), DType.FLOAT64,
        n -> false);
    Files.createDirectories(dir);
    Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
    Map<String, Tensor> first = new LinkedHashMap<>();
    Map<String, Tensor> second = new LinkedHashMap<>();
    int i = 0;
    for (Map.Entry<String, Tensor> e : w.entrySet()) {
      (i++ % 2 == 0 ? first : second).put(e.getKey(), e.getValue());
    }
    second.put("lm_head.weight", w.get("model.embed_tokens.weight")); // as some tied exports do
    second.put("model.layers.0.self_attn.rotary_emb.inv_freq", Tensor.ones(DType.FLOAT64, 4));
    writeBf16(dir.resolve("a.safetensors"), first);
    writeBf16(dir.resolve("b.safetensors"), second);
    ObjectNode index = JSON.createObjectNode();
    ObjectNode map = index.putObject("weight_map");
    first.keySet().forEach(n -> map.put(n, "a.safetensors"));
    second.keySet().forEach(n -> map.put(n, "b.safetensors"));
    Files.writeString(dir.resolve("model.safetensors.index.json"), index.toString());
    CausalLm m = Checkpoint.load(dir, DType.FLOAT32);
    m.namedParameters().forEach((n, v) -> {
      float[] expected = w.get(n).toFloatArray();
      for (int k = 0; k < expected.length; k++) {
        expected[k] = Float.intBitsToFloat(Float.floatToIntBits(expected[k]) & 0xffff0000);
      }
      assertThat(v.value().toFloatArray()).as(n).containsExactly(expected);
    });
  }

  /** A safetensors file in BF16 (each float32 truncated to its top 16 bits). */
  static void writeBf16(Path f, Map<String, Tensor> tensors) throws IOException {
    ObjectNode h = JSON.createObjectNode();
    long at = 0;
    for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
      ObjectNode n = h.putObject(e.getKey());
      n.put("dtype", "BF16");
      var s = n.putArray("shape");
      for (int d : e.getValue().shape()) {
        s.add(d);
      }
      n.putArray("data_offsets").add(at).add(at + 2 * e.getValue().numel());
      at += 2 * e.getValue().numel();
    }
    byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate((int) (8 + header.length + at)).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(header.length).put(header);
    for (Tensor t : tensors.values()) {
      for (float x : t.toFloatArray()) {
        b.putShort((short) (Float.floatToIntBits(x) >>> 16));
      }
    }
    Files.write(f, b.array());
  }

  @Test
  void badDirectoriesAreOneLineErrorsNamingTheFileAndTheField() throws Exception {
    Path src = Path.of("src/test/resources/fixtures/llama-gqa");
    Path d = dir.resolve("bad");
    Files.createDirectories(d);
    Files.copy(src.resolve("model.safetensors"), d.resolve("model.safetensors"));
    ObjectNode cfg = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());

    cfg.put("model_type", "gemma");
    Files.writeString(d.resolve("config.json"), cfg.toString());
    assertThatThrownBy(() -> Checkpoint.load(d, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("config.json").hasMessageContaining("model_type")
        .hasMessageContaining("gemma");

    cfg.put("model_type", "llama");
    cfg.remove("hidden_size");
    Files.writeString(d.resolve("config.json"), cfg.toString());
    assertThatThrownBy(() -> Checkpoint.load(d, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("config.json").hasMessageContaining("hidden_size");

    cfg.put("hidden_size", 16);
    cfg.put("hidden_act", "gelu");
    Files.writeString(d.resolve("config.json"), cfg.toString());
    assertThatThrownBy(() -> Checkpoint.load(d, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("hidden_act");

    cfg.put("hidden_act", "silu");
    cfg.put("num_key_value_heads", 4); // k_proj on disk has 2 heads
    Files.writeString(d.resolve("config.json"), cfg.toString());
    assertThatThrownBy(() -> Checkpoint.load(d, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("model.safetensors")
        .hasMessageContaining("model.layers.0.self_attn.k_proj.weight");

    cfg.put("num_key_value_heads", 2);
    cfg.put("tie_word_embeddings", true); // the file still has lm_head.weight: ignored
    Files.writeString(d.resolve("config.json"), cfg.toString());
    assertThat(Checkpoint.load(d, DType.FLOAT32).namedParameters()).doesNotContainKey("lm_head.weight");

    cfg.put("tie_word_embeddings", false);
    cfg.put("num_hidden_layers", 1); // layer 1's tensors are unexpected
    Files.writeString(d.resolve("config.json"), cfg.toString());
    assertThatThrownBy(() -> Checkpoint.load(d, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("unexpected tensor 'model.layers.1.");

    Files.delete(d.resolve("model.safetensors"));
    Files.writeString(d.resolve("model.safetensors.index.json"),
        "{\"weight_map\": {\"model.norm.weight\": \"model-00001-of-00002.safetensors\"}}");
    assertThatThrownBy(() -> Checkpoint.load(d, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("model-00001-of-00002.safetensors")
        .hasMessageContaining("model.norm.weight");
    Files.writeString(d.resolve("model.safetensors.index.json"),
        "{\"weight_map\": {\"model.norm.weight\": \"../../etc/passwd\"}}");
    assertThatThrownBy(() -> Checkpoint.load(d, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("same directory");
  }
}
