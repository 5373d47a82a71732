package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.Indices;
import org.sdpo.tensor.Tensor;

/** Rows of a (N, C) table picked by integer ids: the embedding lookup. Output idsShape + [C]. */
public final class Embedding extends Op {
  private final int[] tableShape;
  private final Indices ids; // uploaded once: the forward's gather and the backward's scatter

  private Embedding(int[] tableShape, Indices ids) {
    this.tableShape = tableShape;
    this.ids = ids;
  }

  public static Variable apply(Variable table, int[] ids, int... idsShape) {
    Indices onBackend = Backends.current().indices(ids);
    Tensor y = table.value().gatherRows(onBackend, idsShape);
    return record(new Embedding(table.shape(), onBackend), y, table);
  }

  @Override
  public String name() {
    return "embedding";
  }

  // Row r of the table receives the sum of the gradients of every position whose id is r.
  @Override
  public Tensor[] backward(Tensor g) {
    Tensor dTable = Tensor.zeros(g.dtype(), tableShape);
    dTable.scatterAddRowsInPlace(ids, g);
    return new Tensor[] {dTable};
  }
}
