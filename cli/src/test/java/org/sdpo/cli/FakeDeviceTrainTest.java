package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.core.Trainer;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.cuda.CudaBackend;
import org.sdpo.tensor.cuda.FakeDevice;

/**
 * SDPO training end to end on the CUDA backend's fake device: rollouts sampled with the decode
 * step recorded (a CUDA graph on a GPU), graded with feedback, re-scored by the self-teacher,
 * distilled, validated. The run writes the same metrics and checkpoint as the same run with
 * nothing recorded, bit for bit: recording changes how kernels are launched, never what they
 * compute.
 */
class FakeDeviceTrainTest {
  @TempDir Path dir;
  final Map<Boolean, Long> launches = new LinkedHashMap<>();

  Path train(Path base, boolean graphs) throws Exception {
    Backend cpu = Backends.current();
    FakeDevice device = new FakeDevice();
    try {
      Backends.install(new CudaBackend(device, CudaBackend.Precision.FP32, graphs));
      return GpuCheck.sdpoRun(base, dir.resolve(graphs ? "recorded" : "stepwise"));
    } finally {
      Backends.install(cpu);
      launches.put(graphs, device.launches());
    }
  }

  @Test
  void sdpoOnTheFakeDeviceGivesTheSameRunWithAndWithoutRecording() throws Exception {
    Path base = GpuCheck.sdpoBase(dir);
    Path stepwise = train(base, false);
    Path recorded = train(base, true);
    assertThat(GpuCheck.sameRun(recorded, stepwise)).isEqualTo("2 steps");
    assertThat(Files.readAllLines(stepwise.resolve(Trainer.METRICS)).get(1))
        .contains("\"val_avg_at_2\"", "\"feedback_used_fraction\"");
    assertThat(launches.get(true)).as("launches with decoding recorded")
        .isLessThan(launches.get(false));
    // the device's memory per step (its peak, what it holds after) and the run's peak
    com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
    com.fasterxml.jackson.databind.JsonNode line = json.readTree(
        Files.readAllLines(stepwise.resolve(Trainer.METRICS)).get(0));
    long peak = line.path("device_peak_in_use_bytes").asLong();
    assertThat(peak).isPositive().isGreaterThanOrEqualTo(line.path("device_in_use_bytes").asLong());
    assertThat(line.path("device_reserved_bytes").asLong()).isGreaterThanOrEqualTo(peak);
    com.fasterxml.jackson.databind.JsonNode summary = json.readTree(
        stepwise.resolve("summary.json").toFile());
    assertThat(summary.path("device_peak_in_use_bytes").asLong()).isGreaterThanOrEqualTo(peak);
    assertThat(summary.path("device_peak_reserved_bytes").asLong())
        .isGreaterThanOrEqualTo(summary.path("device_peak_in_use_bytes").asLong());
  }
}
