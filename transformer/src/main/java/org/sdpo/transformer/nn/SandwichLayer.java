package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/**
 * Gemma 3's decoder layer: each sub-layer's input and output normalised,
 * x + post_attention_layernorm(self_attn(input_layernorm(x))), then
 * x + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(x))). (Note the names: Llama's
 * {@code post_attention_layernorm} is the norm before its MLP; Gemma's normalises the attention's
 * output.)
 */
public final class SandwichLayer extends Module {
  public final RmsNorm inputLayernorm;
  public final GqaAttention selfAttn;
  public final RmsNorm postAttentionLayernorm;
  public final RmsNorm preFeedforwardLayernorm;
  public final GatedMlp mlp;
  public final RmsNorm postFeedforwardLayernorm;

  public SandwichLayer(RmsNorm inputLayernorm, GqaAttention selfAttn,
      RmsNorm postAttentionLayernorm, RmsNorm preFeedforwardLayernorm, GatedMlp mlp,
      RmsNorm postFeedforwardLayernorm) {
    this.inputLayernorm = child("input_layernorm", inputLayernorm);
    this.selfAttn = child("self_attn", selfAttn);
    this.postAttentionLayernorm = child("post_attention_layernorm", postAttentionLayernorm);
    this.preFeedforwardLayernorm = child("pre_feedforward_layernorm", preFeedforwardLayernorm);
    this.postFeedforwardLayernorm = child("post_feedforward_layernorm", postFeedforwardLayernorm);
    this.mlp = child("mlp", mlp); // registered in the checkpoint's order
  }

  public Variable forward(Variable x, Tensor cos, Tensor sin, Tensor keyMask, KvCache cache) {
    Variable a = selfAttn.forward(inputLayernorm.forward(x), cos, sin, keyMask, cache);
    x = F.add(x, postAttentionLayernorm.forward(a));
    Variable m = mlp.forward(preFeedforwardLayernorm.forward(x));
    return F.add(x, postFeedforwardLayernorm.forward(m));
  }
}
