package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Which form of attention the autograd ops keep: the backend's choice, or the settings'. */
class AttentionPathTest {
  static final int[] Q = {2, 4, 16, 8};
  static final int[] K = {2, 2, 16, 8};

  @Test
  void theCpuKeepsTheProbabilitiesUnlessTold() {
    Fused.AttentionPath old = Fused.attentionPath(Fused.AttentionPath.AUTO);
    try {
      assertThat(Fused.usesFlashAttention(Q, K)).isFalse();
      Fused.attentionPath(Fused.AttentionPath.FLASH);
      assertThat(Fused.usesFlashAttention(Q, K)).isTrue();
      Fused.attentionPath(Fused.AttentionPath.PROBABILITIES);
      assertThat(Fused.usesFlashAttention(Q, K)).isFalse();
    } finally {
      Fused.attentionPath(old);
    }
  }

  @Test
  void theSettingIsReadAndABadOneNamed() {
    Fused.AttentionPath old = Fused.attentionPath(null);
    try {
      System.setProperty("sdpo.attention", "Flash");
      Fused.attentionPath(null);
      assertThat(Fused.usesFlashAttention(Q, K)).isTrue();
      System.setProperty("sdpo.attention", "fastest");
      Fused.attentionPath(null);
      assertThatThrownBy(() -> Fused.usesFlashAttention(Q, K))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("sdpo.attention / SDPO_ATTENTION: expected auto, flash or probabilities,"
              + " got 'fastest'");
    } finally {
      System.clearProperty("sdpo.attention");
      Fused.attentionPath(old);
    }
  }
}
