package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/**
 * A decoder layer whose sub-layers' outputs are normalised before they join the residual stream:
 * x + post_attention_layernorm(self_attn(input_layernorm(x))), then
 * x + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(x))). Gemma 3 has all four norms;
 * OLMo 2 has no input norms (null here): x + post_attention_layernorm(self_attn(x)), then
 * x + post_feedforward_layernorm(mlp(x)). (Note the names: Llama's
 * {@code post_attention_layernorm} is the norm before its MLP; here it normalises the attention's
 * output.)
 */
public final class SandwichLayer extends Module implements RotaryLayer {
  public final RmsNorm inputLayernorm; // or null (OLMo 2)
  public final GqaAttention selfAttn;
  public final RmsNorm postAttentionLayernorm;
  public final RmsNorm preFeedforwardLayernorm; // or null (OLMo 2)
  public final GatedMlp mlp;
  public final RmsNorm postFeedforwardLayernorm;

  public SandwichLayer(RmsNorm inputLayernorm, GqaAttention selfAttn,
      RmsNorm postAttentionLayernorm, RmsNorm preFeedforwardLayernorm, GatedMlp mlp,
      RmsNorm postFeedforwardLayernorm) {
    this.inputLayernorm = inputLayernorm == null ? null
        : child("input_layernorm", inputLayernorm);
    this.selfAttn = child("self_attn", selfAttn);
    this.postAttentionLayernorm = child("post_attention_layernorm", postAttentionLayernorm);
    this.preFeedforwardLayernorm = preFeedforwardLayernorm == null ? null
        : child("pre_feedforward_layernorm", preFeedforwardLayernorm);
    this.postFeedforwardLayernorm = child("post_feedforward_layernorm", postFeedforwardLayernorm);
    this.mlp = child("mlp", mlp); // registered in the checkpoint's order
  }

  @Override
  public Variable forward(Variable x, Tensor cos, Tensor sin, Tensor keyMask, KvCache cache) {
    Variable in = inputLayernorm == null ? x : inputLayernorm.forward(x);
    x = F.add(x, postAttentionLayernorm.forward(selfAttn.forward(in, cos, sin, keyMask, cache)));
    Variable m = mlp.forward(preFeedforwardLayernorm == null ? x
        : preFeedforwardLayernorm.forward(x));
    return F.add(x, postFeedforwardLayernorm.forward(m));
  }
}
