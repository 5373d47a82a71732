package org.sdpo.transformer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The rotary position embedding's frequencies: {@code rope_theta} and the {@code rope_scaling}
 * kinds Llama-family checkpoints use. Frequency i of a head of size D is
 * inv_freq[i] = theta^(-2i/D), i = 0 .. D/2 - 1; then
 * <ul>
 *   <li>{@code default}: unchanged;
 *   <li>{@code linear}: inv_freq / factor (positions interpolated);
 *   <li>{@code llama3}: wavelengths 2 pi / inv_freq longer than original_max_position_embeddings /
 *       low_freq_factor are divided by factor, shorter than ... / high_freq_factor kept, and
 *       blended in between (Llama 3.1's long-context recipe).
 * </ul>
 */
public record RopeConfig(double theta, String type, double factor, double lowFreqFactor,
    double highFreqFactor, int originalMaxPositions) {

  public RopeConfig {
    if (!(theta > 0) || Double.isInfinite(theta)) {
      throw new IllegalArgumentException("rope_theta must be positive, got " + theta);
    }
    switch (type) {
      case "default":
        break;
      case "linear":
        if (!(factor > 0)) {
          throw new IllegalArgumentException("rope_scaling.factor must be positive, got " + factor);
        }
        break;
      case "llama3":
        if (!(factor > 0) || !(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor)
            || originalMaxPositions <= 0) {
          throw new IllegalArgumentException("rope_scaling (llama3) needs factor > 0, 0 <"
              + " low_freq_factor < high_freq_factor and original_max_position_embeddings > 0,"
              + " got factor " + factor + ", low_freq_factor " + lowFreqFactor
              + ", high_freq_factor " + highFreqFactor + ", original_max_position_embeddings "
              + originalMaxPositions);
        }
        break;
      default:
        throw new IllegalArgumentException("rope_scaling type \"" + type + "\" is not supported"
            + " (default, linear and llama3 are)");
    }
  }

  public static RopeConfig plain(double theta) {
    return new RopeConfig(theta, "default", 1, 0, 0, 0);
  }

  /**
   * Reads {@code rope_theta} and {@code rope_scaling} of a config.json, or the newer
   * {@code rope_parameters} object that holds both.
   */
  /**
   * One {@code rope_parameters} object ({@code rope_type}, {@code rope_theta}, {@code factor},
   * ...), as transformers 5 writes one per layer type; {@code theta} when it names none.
   */
  static RopeConfig ofParameters(JsonNode p, double theta) {
    ObjectNode n = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
    n.set("rope_parameters", p.isObject() ? p : n.objectNode());
    n.put("rope_theta", theta);
    return read(n);
  }

  static RopeConfig read(JsonNode n) {
    JsonNode params = n.path("rope_parameters");
    JsonNode scaling = params.isObject() ? params : n.path("rope_scaling");
    double theta = params.isObject() && params.has("rope_theta") ? params.get("rope_theta").asDouble()
        : n.has("rope_theta") ? n.get("rope_theta").asDouble() : 10000.0;
    if (!scaling.isObject()) {
      return plain(theta);
    }
    String type = scaling.has("rope_type") ? scaling.get("rope_type").asText()
        : scaling.path("type").asText("default");
    return new RopeConfig(theta, type, scaling.path("factor").asDouble(1),
        scaling.path("low_freq_factor").asDouble(0), scaling.path("high_freq_factor").asDouble(0),
        scaling.path("original_max_position_embeddings").asInt(0));
  }

  /** Writes rope_theta and, unless default, rope_scaling into a config.json object. */
  void write(ObjectNode n) {
    n.put("rope_theta", theta);
    if (type.equals("default")) {
      n.putNull("rope_scaling");
      return;
    }
    ObjectNode s = n.putObject("rope_scaling");
    s.put("rope_type", type);
    s.put("factor", factor);
    if (type.equals("llama3")) {
      s.put("low_freq_factor", lowFreqFactor);
      s.put("high_freq_factor", highFreqFactor);
      s.put("original_max_position_embeddings", originalMaxPositions);
    }
  }

  /** The D/2 inverse frequencies of a head of size {@code headDim}, in double precision. */
  public double[] invFreq(int headDim) {
    double[] f = new double[headDim / 2];
    for (int i = 0; i < f.length; i++) {
      f[i] = 1.0 / Math.pow(theta, 2.0 * i / headDim);
    }
    switch (type) {
      case "linear":
        for (int i = 0; i < f.length; i++) {
          f[i] /= factor;
        }
        break;
      case "llama3": {
        double lowWavelen = originalMaxPositions / lowFreqFactor;
        double highWavelen = originalMaxPositions / highFreqFactor;
        for (int i = 0; i < f.length; i++) {
          double wavelen = 2 * Math.PI / f[i];
          if (wavelen > lowWavelen) {
            f[i] /= factor;
          } else if (wavelen >= highWavelen) {
            double smooth = (originalMaxPositions / wavelen - lowFreqFactor)
                / (highFreqFactor - lowFreqFactor);
            f[i] = (1 - smooth) * f[i] / factor + smooth * f[i];
          }
        }
        break;
      }
      default:
        break;
    }
    return f;
  }
}
