package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.io.Safetensors;
import org.sdpo.transformer.tokenizer.CharTokenizer;

class CheckpointTest {
  @TempDir Path dir;
  final GptConfig cfg = GptConfig.of(11, 8, 6, 1, 2);

  private Map<String, Tensor> weights(DType d) {
    Map<String, Tensor> w = new LinkedHashMap<>();
    Gpt.init(cfg, d, new Rng(1)).namedParameters().forEach((n, v) -> w.put(n, v.value()));
    return w;
  }

  private void writeConfig(Path d, GptConfig c) throws IOException {
    Files.createDirectories(d);
    Files.writeString(d.resolve("config.json"), c.toJson().toString());
  }

  @Test
  void roundTripsModelAndTokenizerBitForBit() throws Exception {
    CausalLm m = Gpt.init(cfg, DType.FLOAT32, new Rng(2));
    Checkpoint.save(m, CharTokenizer.ascii(), dir, Map.of("step", "7"));
    CausalLm back = Checkpoint.load(dir, DType.FLOAT32);
    for (Map.Entry<String, Variable> e : m.namedParameters().entrySet()) {
      assertThat(back.namedParameters().get(e.getKey()).value().toFloatArray())
          .containsExactly(e.getValue().value().toFloatArray());
    }
    assertThat(Files.exists(dir.resolve(CharTokenizer.FILE))).isTrue();
    assertThat(Safetensors.metadata(dir.resolve("model.safetensors")))
        .containsEntry("step", "7").containsEntry("format", "pt");
    assertThat(Files.list(dir).filter(p -> p.toString().endsWith(".tmp")).count()).isZero();
    assertThat(Checkpoint.load(dir, DType.FLOAT64).dtype()).isEqualTo(DType.FLOAT64);
  }

  @Test
  void acceptsTheTransformerPrefixAndIgnoresHfBuffers() throws Exception {
    Map<String, Tensor> w = new LinkedHashMap<>();
    weights(DType.FLOAT32).forEach((n, t) -> w.put("transformer." + n, t));
    w.put("transformer.h.0.attn.bias", Tensor.ones(DType.FLOAT32, 1, 1, 8, 8));
    w.put("transformer.h.0.attn.masked_bias", Tensor.scalar(DType.FLOAT32, -1e4));
    w.put("lm_head.weight", weights(DType.FLOAT32).get("wte.weight"));
    writeConfig(dir, cfg);
    Safetensors.write(dir.resolve("model.safetensors"), w, null);
    assertThat(Checkpoint.load(dir, DType.FLOAT32).config()).isEqualTo(cfg);
  }

  @Test
  void readsF16AndBf16() throws Exception {
    // one tensor [1.5, -2.0, 65504, 0.0009765625] in F16 and [1.5, -2.0, 3.0e38] in BF16
    Path f = dir.resolve("h.safetensors");
    String header = "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
        + "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]}}";
    ByteBuffer bb = ByteBuffer.allocate(8 + header.length() + 14).order(ByteOrder.LITTLE_ENDIAN);
    bb.putLong(header.length()).put(header.getBytes(StandardCharsets.UTF_8));
    bb.putShort((short) 0x3E00).putShort((short) 0xC000).putShort((short) 0x7BFF).putShort((short) 0x1400);
    for (float x : new float[] {1.5f, -2f, 3.0e38f}) {
      bb.putShort((short) (Float.floatToIntBits(x) >>> 16));
    }
    Files.write(f, bb.array());
    Map<String, Tensor> t = Safetensors.read(f, DType.FLOAT64, n -> false);
    assertThat(t.get("a").toDoubleArray()).containsExactly(1.5, -2.0, 65504.0, 0.0009765625);
    assertThat(t.get("b").toDoubleArray()[0]).isEqualTo(1.5);
    assertThat(t.get("b").toDoubleArray()[2]).isCloseTo(3.0e38, org.assertj.core.api.Assertions.withinPercentage(1));
  }

  @Test
  void corruptAndMismatchedCheckpointsNameTheFileAndTensor() throws Exception {
    CausalLm m = Gpt.init(cfg, DType.FLOAT32, new Rng(2));
    Checkpoint.save(m, null, dir, null);
    Path w = dir.resolve("model.safetensors");
    byte[] full = Files.readAllBytes(w);

    Files.write(w, java.util.Arrays.copyOf(full, full.length - 10));
    assertThatThrownBy(() -> Checkpoint.load(dir, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("model.safetensors").hasMessageContaining("ln_f.bias");

    Files.write(w, java.util.Arrays.copyOf(full, 5));
    assertThatThrownBy(() -> Checkpoint.load(dir, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("truncated");

    byte[] bad = full.clone();
    bad[0] = (byte) 0xff; // header length larger than the file
    bad[5] = 0x7f;
    Files.write(w, bad);
    assertThatThrownBy(() -> Checkpoint.load(dir, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("header length");

    Map<String, Tensor> missing = weights(DType.FLOAT32);
    missing.remove("h.0.mlp.c_fc.bias");
    Safetensors.write(w, missing, null);
    assertThatThrownBy(() -> Checkpoint.load(dir, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("missing tensor 'h.0.mlp.c_fc.bias'");

    Safetensors.write(w, weights(DType.FLOAT32), null);
    writeConfig(dir, GptConfig.of(11, 8, 6, 1, 3)); // n_head changed: shapes still fit
    assertThat(((GptConfig) Checkpoint.load(dir, DType.FLOAT32).config()).nHead()).isEqualTo(3);
    writeConfig(dir, GptConfig.of(12, 8, 6, 1, 2)); // vocab disagrees with wte
    assertThatThrownBy(() -> Checkpoint.load(dir, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("'wte.weight' has shape [11, 6]").hasMessageContaining("[12, 6]");
    writeConfig(dir, GptConfig.of(11, 8, 6, 2, 2)); // more layers than the file has
    assertThatThrownBy(() -> Checkpoint.load(dir, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("missing tensor 'h.1.ln_1.weight'");

    Map<String, Tensor> extra = weights(DType.FLOAT32);
    extra.put("h.0.attn.q_proj.weight", Tensor.zeros(DType.FLOAT32, 2));
    writeConfig(dir, cfg);
    Safetensors.write(w, extra, null);
    assertThatThrownBy(() -> Checkpoint.load(dir, DType.FLOAT32)).isInstanceOf(IOException.class)
        .hasMessageContaining("unexpected tensor 'h.0.attn.q_proj.weight'");

    Files.writeString(dir.resolve("config.json"), "{\"n_embd\": 6}");
    assertThatThrownBy(() -> Checkpoint.load(dir, DType.FLOAT32))
        .hasMessageContaining("config.json").hasMessageContaining("vocab_size");
    assertThatThrownBy(() -> Checkpoint.load(dir.resolve("nope"), DType.FLOAT32))
        .isInstanceOf(IOException.class).hasMessageContaining("nope");
  }

  @Test
  void rejectsOverlappingOffsets() throws Exception {
    Path f = dir.resolve("o.safetensors");
    String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
    ByteBuffer bb = ByteBuffer.allocate(8 + header.length() + 12).order(ByteOrder.LITTLE_ENDIAN);
    bb.putLong(header.length()).put(header.getBytes(StandardCharsets.UTF_8));
    Files.write(f, bb.array());
    assertThatThrownBy(() -> Safetensors.read(f, DType.FLOAT32, n -> false))
        .isInstanceOf(IOException.class).hasMessageContaining("tensor 'b'").hasMessageContaining("overlap");
  }
}
