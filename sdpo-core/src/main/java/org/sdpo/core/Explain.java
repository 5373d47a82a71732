package org.sdpo.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.sdpo.transformer.io.AtomicFiles;
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

  /** Writes the page for one step file (atomically) and returns the number of tokens shown. */
  public static int write(Path stepFile, Path out) throws IOException {
    JsonNode d = new ObjectMapper().readTree(stepFile.toFile());
    StringBuilder h = new StringBuilder();
    h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
        .append("<title>SDPO credit assignment, step ").append(d.path("step").asInt())
        .append("</title>\n<style>\n")
        .append("body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}\n")
        .append(".card{border:1px solid #ccc;border-radius:6px;padding:1em;margin:1em 0}\n")
        .append("pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;margin:.3em 0}\n")
        .append(".tok{font-family:monospace;white-space:pre-wrap;padding:1px 0;border-radius:2px}\n")
        .append(".attempt{font-family:monospace;line-height:1.8;background:#fafafa;padding:.5em}\n")
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
      h.append("</div>\n<h3>Feedback</h3><pre class=\"feedback\">")
          .append(esc(ro.path("feedback").asText())).append("</pre>\n<h3>Teacher context</h3>")
          .append("<pre class=\"context\">").append(esc(ro.path("teacher_context").asText()))
          .append("</pre>\n</div>\n");
    }
    h.append("</body></html>\n");
    AtomicFiles.writeString(out, h);
    return count;
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
