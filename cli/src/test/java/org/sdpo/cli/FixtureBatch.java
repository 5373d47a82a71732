package org.sdpo.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;

/** A parity fixture's batch (batch.json, written by tools/make_*_fixtures.py). */
record FixtureBatch(int B, int T, int[] ids, double[] mask, int[] pos, int[] labels) {

  static FixtureBatch read(Path dir) throws java.io.IOException {
    JsonNode n = new ObjectMapper().readTree(dir.resolve("batch.json").toFile());
    int B = n.get("input_ids").size();
    int T = n.get("input_ids").get(0).size();
    int[] ids = new int[B * T];
    double[] mask = new double[B * T];
    int[] pos = new int[B * T];
    int[] labels = new int[B * T];
    for (int b = 0; b < B; b++) {
      for (int t = 0; t < T; t++) {
        ids[b * T + t] = n.get("input_ids").get(b).get(t).asInt();
        mask[b * T + t] = n.get("attention_mask").get(b).get(t).asDouble();
        pos[b * T + t] = n.get("position_ids").get(b).get(t).asInt();
        labels[b * T + t] = n.get("labels").get(b).get(t).asInt();
      }
    }
    return new FixtureBatch(B, T, ids, mask, pos, labels);
  }
}
