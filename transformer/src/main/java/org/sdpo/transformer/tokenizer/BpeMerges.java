package org.sdpo.transformer.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * BPE's merge loop, shared by the byte-level and the SentencePiece-style models: adjacent
 * symbols are merged, the pair of lowest merge rank first (the leftmost of equal pairs first),
 * until no adjacent pair has a rank. A priority queue over a linked list keeps a 100,000-symbol
 * word at O(n log n), not O(n^2).
 */
final class BpeMerges {
  private final Map<String, Integer> ranks; // "left right" to rank

  /** @param ranks a merge "left right" to its rank, lower merged first */
  BpeMerges(Map<String, Integer> ranks) {
    this.ranks = ranks;
  }

  private record Candidate(int rank, int left, String leftSym, String rightSym)
      implements Comparable<Candidate> {
    @Override
    public int compareTo(Candidate o) {
      return rank != o.rank ? Integer.compare(rank, o.rank) : Integer.compare(left, o.left);
    }
  }

  /** The symbols left after every merge, in order. */
  List<String> merge(List<String> symbols) {
    int n = symbols.size();
    String[] sym = symbols.toArray(new String[0]);
    int[] prev = new int[n];
    int[] next = new int[n];
    for (int i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    PriorityQueue<Candidate> pq = new PriorityQueue<>();
    for (int i = 0; i + 1 < n; i++) {
      offer(pq, i, sym[i], sym[i + 1]);
    }
    while (!pq.isEmpty()) {
      Candidate c = pq.poll();
      int l = c.left();
      int r = next[l];
      // stale if either side changed since the candidate was queued
      if (sym[l] == null || r < 0 || !sym[l].equals(c.leftSym()) || !sym[r].equals(c.rightSym())) {
        continue;
      }
      sym[l] = sym[l] + sym[r];
      sym[r] = null;
      next[l] = next[r];
      if (next[r] >= 0) {
        prev[next[r]] = l;
      }
      if (prev[l] >= 0) {
        offer(pq, prev[l], sym[prev[l]], sym[l]);
      }
      if (next[l] >= 0) {
        offer(pq, l, sym[l], sym[next[l]]);
      }
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i >= 0 && i < n; i = next[i]) {
      out.add(sym[i]);
    }
    return out;
  }

  private void offer(PriorityQueue<Candidate> pq, int left, String a, String b) {
    Integer rank = ranks.get(a + " " + b);
    if (rank != null) {
      pq.add(new Candidate(rank, left, a, b));
    }
  }
}
