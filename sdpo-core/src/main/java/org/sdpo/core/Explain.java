package org.sdpo.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.sdpo.transformer.io.AtomicFiles;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The credit-assignment viewer: a self-contained HTML page (no network, no scripts) showing, for
 * the rollouts of a training step, each response token coloured by its SDPO advantage log q(y_t) -
 * log p(y_t) (green: the teacher, who has seen the feedback, likes the token more than the student
 * does; red: less), with the top alternatives of student and teacher on hover, and the question,
 * the verdict and feedback, the teacher context and the group's rewards.
 */
public final class Explain {
  private Explain() {}

  /** The step file of a run: the given step, or the last one. */
  public static Path stepFile(Path run, Integer step) throws IOException {
    Path dir = run.resolve(Trainer.ROLLOUTS);
    if (!Files.isDirectory(dir)) {
      throw new IOException(dir + " does not exist: train with viewer_samples > 0");
    }
    if (step != null) {
      Path f = dir.resolve(String.format("step_%05d.json", step));
      if (!Files.exists(f)) {
        throw new IOException(f + " does not exist (no rollouts kept for step " + step + ")");
      }
      return f;
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().startsWith("step_")).sorted()
          .reduce((a, b) -> b).orElseThrow(() -> new IOException(dir + " holds no step files"));
    }
  }

  /**
   * The step file whose kept rollouts show the teacher's credit assignment most clearly: the most
   * tokens of failed attempts with an advantage log q - log p below -2 (the teacher, who saw the
   * feedback, puts at least e^2 = 7 times less probability on them than the student); the first
   * such step on a tie, the last step if no token qualifies.
   */
  public static Path mostMarkedStep(Path run) throws IOException {
    Path dir = run.resolve(Trainer.ROLLOUTS);
    Path last = stepFile(run, null);
    Path best = null;
    int bestCount = 0;
    ObjectMapper json = new ObjectMapper();
    List<Path> files;
    try (Stream<Path> s = Files.list(dir)) {
      files = s.filter(p -> p.getFileName().toString().startsWith("step_")).sorted().toList();
    }
    for (Path f : files) {
      int count = 0;
      for (JsonNode r : org.sdpo.transformer.io.TextFiles.readTree(json, f, "JSON")
          .path("rollouts")) {
        if (r.path("success").asBoolean()) {
          continue;
        }
        for (JsonNode t : r.path("tokens")) {
          count += t.path("teacher").asDouble() - t.path("student").asDouble() < -2 ? 1 : 0;
        }
      }
      if (count > bestCount) {
        bestCount = count;
        best = f;
      }
    }
    return best != null ? best : last;
  }

  /** Writes the page for one step file (atomically) and returns the number of tokens shown. */
  public static int write(Path stepFile, Path out) throws IOException {
    JsonNode d = org.sdpo.transformer.io.TextFiles.readTree(new ObjectMapper(), stepFile, "JSON");
    StringBuilder h = new StringBuilder();
    h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
        .append("<title>SDPO credit assignment, step ").append(d.path("step").asInt())
        .append("</title>\n<style>\n")
        .append("body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}\n")
        .append(".card{border:1px solid #ccc;border-radius:6px;padding:1em;margin:1em 0}\n")
        .append("pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;margin:.3em 0}\n")
        .append(".tok{font-family:monospace;white-space:pre-wrap;padding:1px 0;border-radius:2px}\n")
        .append(".attempt{font-family:monospace;font-size:1.3em;line-height:1.8;background:#fafafa;"
            + "padding:.5em}\n")
        .append("table.per-token{border-collapse:collapse;font-family:monospace;margin:.5em 0}\n")
        .append("table.per-token td,table.per-token th{border:1px solid #ddd;padding:2px 6px;"
            + "text-align:center}\ntable.per-token th{text-align:left;font-weight:normal;"
            + "color:#555}\n")
        .append(".pass{color:#176317;font-weight:bold}.fail{color:#a01818;font-weight:bold}\n")
        .append(".legend span{padding:2px 6px;margin-right:4px}\n</style></head><body>\n")
        .append("<h1>SDPO credit assignment: step ").append(d.path("step").asInt()).append("</h1>\n")
        .append("<p class=\"legend\">Each response token is coloured by its SDPO advantage "
            + "log&nbsp;q(token) &minus; log&nbsp;p(token): teacher (re-prompted with the "
            + "feedback or a sibling's success) minus student. "
            + "<span style=\"background:rgba(0,160,0,0.6)\">teacher prefers</span>"
            + "<span style=\"background:rgba(210,0,0,0.6)\">teacher dislikes</span> "
            + "Hover a token for the top alternatives of both.</p>\n");
    int count = 0;
    int r = 0;
    for (JsonNode ro : d.path("rollouts")) {
      h.append("<div class=\"card rollout\">\n<h2>Rollout ").append(++r).append(" (group ")
          .append(ro.path("group").asInt()).append(")</h2>\n");
      h.append("<p>Verdict: <span class=\"").append(ro.path("success").asBoolean() ? "pass" : "fail")
          .append("\">").append(ro.path("success").asBoolean() ? "PASS" : "FAIL")
          .append("</span> (").append(esc(ro.path("kind").asText())).append(", reward ")
          .append(ro.path("reward").asDouble()).append("); group rewards ")
          .append(esc(ro.path("group_rewards").toString())).append("; ")
          .append(ro.path("distilled").asBoolean() ? "distilled" : "masked (no teacher signal)")
          .append("</p>\n");
      h.append("<h3>Question</h3><pre class=\"question\">").append(esc(ro.path("question").asText()))
          .append("</pre>\n<h3>Attempt</h3><div class=\"attempt\">");
      for (JsonNode tk : ro.path("tokens")) {
        double s = tk.path("student").asDouble();
        double t = tk.path("teacher").asDouble();
        double a = t - s;
        double alpha = Math.min(1, Math.abs(a) / 2);
        String color = a >= 0 ? String.format(Locale.ROOT, "rgba(0,160,0,%.2f)", alpha)
            : String.format(Locale.ROOT, "rgba(210,0,0,%.2f)", alpha);
        String tip = String.format(Locale.ROOT, "advantage %+.3f%nstudent log p %.3f, top: %s%n"
            + "teacher log q %.3f, top: %s", a, s, alts(tk.path("student_top")), t,
            alts(tk.path("teacher_top")));
        h.append("<span class=\"tok\" data-advantage=\"").append(String.format(Locale.ROOT, "%.4f", a))
            .append("\" style=\"background:").append(color).append("\" title=\"").append(esc(tip))
            .append("\">").append(esc(tk.path("text").asText())).append("</span>");
        count++;
      }
      h.append("</div>\n");
      if (ro.path("tokens").size() <= PER_TOKEN_TABLE) {
        perTokenTable(h, ro.path("tokens"));
      }
      h.append("<h3>Feedback</h3><pre class=\"feedback\">")
          .append(esc(ro.path("feedback").asText())).append("</pre>\n<h3>Teacher context</h3>")
          .append("<pre class=\"context\">").append(esc(ro.path("teacher_context").asText()))
          .append("</pre>\n</div>\n");
    }
    h.append("</body></html>\n");
    AtomicFiles.writeString(out, h);
    return count;
  }

  /** Attempts of at most this many tokens also get a table of per-token numbers. */
  static final int PER_TOKEN_TABLE = 24;

  /** Token, advantage, and the student's and the teacher's most likely token at each position. */
  private static void perTokenTable(StringBuilder h, JsonNode tokens) {
    StringBuilder tok = new StringBuilder("<tr><th>token</th>");
    StringBuilder adv = new StringBuilder("<tr><th>log q &minus; log p</th>");
    StringBuilder st = new StringBuilder("<tr><th>student's first choice</th>");
    StringBuilder te = new StringBuilder("<tr><th>teacher's first choice</th>");
    for (JsonNode tk : tokens) {
      tok.append("<td>").append(esc(tk.path("text").asText())).append("</td>");
      adv.append("<td>").append(String.format(Locale.ROOT, "%+.2f",
          tk.path("teacher").asDouble() - tk.path("student").asDouble())).append("</td>");
      st.append("<td>").append(first(tk.path("student_top"))).append("</td>");
      te.append("<td>").append(first(tk.path("teacher_top"))).append("</td>");
    }
    h.append("<table class=\"per-token\">").append(tok).append("</tr>").append(adv)
        .append("</tr>").append(st).append("</tr>").append(te).append("</tr></table>\n");
  }

  private static String first(JsonNode top) {
    if (top.size() == 0) {
      return "";
    }
    return esc(top.get(0).get(0).asText()) + String.format(Locale.ROOT, " <small>%.0f%%</small>",
        100 * Math.exp(top.get(0).get(1).asDouble()));
  }

  private static String alts(JsonNode top) {
    StringBuilder sb = new StringBuilder();
    for (JsonNode a : top) {
      sb.append(sb.length() == 0 ? "" : ", ").append('\'').append(a.get(0).asText()
          .replace("\n", "\\n")).append(String.format(Locale.ROOT, "' %.2f", a.get(1).asDouble()));
    }
    return sb.toString();
  }

  static String esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }
}
