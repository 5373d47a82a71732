package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** The kernels' parameter lists as read from the CUDA source, their packing, and their twins. */
class KernelSourceTest {

  @Test
  void parameterNamesAreTheSources() {
    assertThat(KernelSource.parameterNames("binary_f32")).containsExactly("op", "d", "a", "b",
        "out");
    assertThat(KernelSource.parameterNames("nll_mean")).containsExactly("rows", "ignoreIndex",
        "targets", "picked", "out");
    for (String k : KernelSource.signatures().keySet()) {
      assertThat(KernelSource.parameterNames(k)).as(k).hasSameSizeAs(KernelSource.signature(k));
    }
  }

  @Test
  void everyKernelHasAJavaTwinAndEveryTwinAKernel() {
    Set<String> kernels = new TreeSet<>();
    for (String k : KernelSource.signatures().keySet()) {
      kernels.add(KernelSource.sourceName(k));
    }
    assertThat(new TreeSet<>(FakeKernels.names())).isEqualTo(kernels);
    assertThat(KernelSource.signatures()).containsKeys("adamw_f32", "adamw_f64", "copy_f32_f64",
        "reduce_f32", "attention_softmax_f64", "to_bf16_f32");
    assertThat(KernelSource.sourceName("adamw_f64")).isEqualTo("adamw");
    assertThat(KernelSource.sourceName("copy_f32_f64")).isEqualTo("copy_f32_f64");
  }

  @Test
  void parametersAreReadFromTheSourceWithTheirTypes() {
    assertThat(KernelSource.signature("map_f32")).containsExactly(KernelSource.Param.INT,
        KernelSource.Param.DOUBLE, KernelSource.Param.DIMS, KernelSource.Param.POINTER,
        KernelSource.Param.POINTER);
    assertThat(KernelSource.signature("adamw_f64")).containsExactly(KernelSource.Param.INT,
        KernelSource.Param.POINTER, KernelSource.Param.DOUBLE, KernelSource.Param.DOUBLE,
        KernelSource.Param.DOUBLE, KernelSource.Param.DOUBLE, KernelSource.Param.POINTER,
        KernelSource.Param.POINTER, KernelSource.Param.POINTER, KernelSource.Param.POINTER);
  }

  @Test
  void packingAlignsEachValueToItsSizeAsTheCudaAbiDoes() {
    // int op | pad | double s | Dims (176 bytes, 4-aligned) | two pointers
    List<KernelSource.Param> sig = KernelSource.signature("map_f32");
    assertThat(KernelArgs.offsets(sig)).containsExactly(0, 8, 16, 192, 200);
    KernelArgs a = new KernelArgs("map_f32").i32(3).f64(2.5)
        .dims(new Dims(new int[] {2, 3}, new int[] {3, 1}, new int[] {0, 1})).ptr(0x1000)
        .ptr(0x2000);
    var b = a.packed();
    assertThat(b.remaining()).isEqualTo(208);
    assertThat(b.getInt(0)).isEqualTo(3);
    assertThat(b.getDouble(8)).isEqualTo(2.5);
    assertThat(b.getInt(16)).isEqualTo(2); // rank
    assertThat(b.getInt(20)).isEqualTo(6); // n
    assertThat(b.getLong(192)).isEqualTo(0x1000);
    Dims d = Dims.unpack(b, 16);
    assertThat(d.shape).containsExactly(2, 3);
    assertThat(d.strides[1]).containsExactly(0, 1);
  }

  /**
   * The backend gives a block THREADS * ILP elements of exactly the kernels that take ILP per
   * thread: a kernel written with ILP_LOOP but launched one element a thread would do a quarter
   * of its work per pass (correct, slower); one launched as ILP without it would leave elements
   * undone.
   */
  @Test
  void theKernelsLaunchedWithIlpAreTheOnesWrittenWithIt() {
    java.util.Set<String> written = new java.util.TreeSet<>();
    for (String file : new String[] {KernelSource.MAIN, KernelSource.TYPED}) {
      String text = KernelSource.read(file);
      String[] parts = text.split("extern \"C\" __global__ void ");
      for (int i = 1; i < parts.length; i++) {
        String part = parts[i];
        int eol = part.indexOf('\n');
        String line = eol < 0 ? part : part.substring(0, eol);
        // the body: a one-line kernel's line, else up to the closing brace in column 0
        String head = line.trim().endsWith("}") ? line : part.substring(0, part.indexOf("\n}") + 1);
        head = head.replaceFirst("^__launch_bounds__\\([^)]*\\) ", "");
        String name = head.startsWith("SFX(") ? head.substring(4, head.indexOf(')'))
            : head.substring(0, head.indexOf('('));
        if (head.contains("ILP_LOOP") || head.contains("copy_impl(")) {
          written.add(name);
        }
      }
    }
    assertThat(written).containsExactlyInAnyOrderElementsOf(CudaBackend.ILP_KERNELS);
  }

  @Test
  void argumentsOutOfOrderOrMissingAreRefused() {
    assertThatThrownBy(() -> new KernelArgs("map_f32").f64(1)).hasMessageContaining(
        "parameter 0 is INT, not DOUBLE");
    assertThatThrownBy(() -> new KernelArgs("ema_f32").i32(1).f64(0.5).packed())
        .hasMessageContaining("2 of 4 parameters");
    assertThatThrownBy(() -> KernelSource.signature("no_such_kernel"))
        .hasMessageContaining("no kernel 'no_such_kernel'");
  }

  @Test
  void launchBoundsBeforeTheNameAreRead() {
    assertThat(KernelSource.parse(
        "extern \"C\" __global__ void __launch_bounds__(TC_THREADS, 5) k(int n, const float* x) {}",
        "extern \"C\" __global__ void __launch_bounds__(256) SFX(t)(double a) {}"))
        .containsEntry("k", java.util.List.of(KernelSource.Param.INT, KernelSource.Param.POINTER))
        .containsEntry("t_f32", java.util.List.of(KernelSource.Param.DOUBLE));
  }

  @Test
  void aParameterTypeThePackerDoesNotKnowIsRefused() {
    assertThatThrownBy(() -> KernelSource.parse(
        "extern \"C\" __global__ void k(float x, int n) {}", ""))
        .hasMessageContaining("kernel k: parameter 'float x'");
  }
}
