package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/**
 * A Llama-family decoder layer, pre-RMSNorm: x + self_attn(input_layernorm(x)), then
 * x + mlp(post_attention_layernorm(x)).
 */
public final class DecoderLayer extends Module implements RotaryLayer {
  public final RmsNorm inputLayernorm;
  public final GqaAttention selfAttn;
  public final RmsNorm postAttentionLayernorm;
  public final GatedMlp mlp;

  public DecoderLayer(RmsNorm inputLayernorm, GqaAttention selfAttn,
      RmsNorm postAttentionLayernorm, GatedMlp mlp) {
    this.inputLayernorm = child("input_layernorm", inputLayernorm);
    this.selfAttn = child("self_attn", selfAttn);
    this.postAttentionLayernorm = child("post_attention_layernorm", postAttentionLayernorm);
    this.mlp = child("mlp", mlp);
  }

  @Override
  public Variable forward(Variable x, Tensor cos, Tensor sin, Tensor keyMask, KvCache cache) {
    x = F.add(x, selfAttn.forward(inputLayernorm.forward(x), cos, sin, keyMask, cache));
    return F.add(x, mlp.forward(postAttentionLayernorm.forward(x)));
  }
}
