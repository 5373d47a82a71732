package org.sdpo.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.sdpo.transformer.io.AtomicFiles;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** PNG line charts (800 x 500) of one or more series, with error bars where given. */
final class Charts {
  static final int WIDTH = 800;
  static final int HEIGHT = 500;

  /** Eight colours told apart easily (Tableau 10), instead of the default palette's near twins. */
  private static final java.awt.Color[] PALETTE = {
    new java.awt.Color(0x4E79A7), new java.awt.Color(0xF28E2B), new java.awt.Color(0x59A14F),
    new java.awt.Color(0xE15759), new java.awt.Color(0x76B7B2), new java.awt.Color(0xB07AA1),
    new java.awt.Color(0xEDC948), new java.awt.Color(0x9C755F), new java.awt.Color(0xFF9DA7),
    new java.awt.Color(0xBAB0AC)};

  private Charts() {}

  /** Whether the one line saying that charts cannot be drawn here was printed. */
  private static final java.util.concurrent.atomic.AtomicBoolean TOLD =
      new java.util.concurrent.atomic.AtomicBoolean();

  /**
   * Writes a chart atomically; where this Java cannot draw text (a machine without the system
   * libraries or fonts its font renderer loads, such as a bare GPU machine running the GPU
   * bundle), no file is written and one line on stderr says so, once: a chart is a view of numbers
   * that the run's JSON and JSONL files hold, so the run goes on.
   */
  static void save(Path file, AtomicFiles.Body body) throws IOException {
    try {
      AtomicFiles.write(file, body);
    } catch (LinkageError | java.awt.AWTError | InternalError e) {
      if (!TOLD.getAndSet(true)) {
        String why = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
        System.err.println("charts: not drawn on this machine (" + file.getFileName()
            + " and later ones): Java cannot render text here (" + e.getClass().getSimpleName()
            + ": " + why + "); every number is in the run's .json and .jsonl files");
      }
    }
  }

  /** A chart's path for a summary line, or that it was not drawn (see {@link #save}). */
  static String shown(Path chart) {
    return java.nio.file.Files.exists(chart) ? chart.toString() : chart + " (not drawn)";
  }

  /** One line: x, y and (optional, same length) half-widths of an error bar. */
  record Series(String name, double[] x, double[] y, double[] err) {
    Series {
      if (x.length != y.length || (err != null && err.length != y.length)) {
        throw new IllegalArgumentException("series " + name + ": x, y and error bars differ in length");
      }
    }
  }

  /** Writes the chart to {@code file} atomically (a temporary file renamed into place). */
  static void lines(Path file, String title, String xTitle, String yTitle, List<Series> series,
      boolean logX) throws IOException {
    System.setProperty("java.awt.headless", "true");
    XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(xTitle)
        .yAxisTitle(yTitle).build();
    c.getStyler().setLegendVisible(series.size() > 1);
    c.getStyler().setXAxisLogarithmic(logX);
    c.getStyler().setSeriesColors(PALETTE);
    clampToUnitInterval(c, series);
    for (Series s : series) {
      double[] y = finite(s.y());
      XYSeries xs = s.err() == null ? c.addSeries(s.name(), s.x(), y)
          : c.addSeries(s.name(), s.x(), y, finite(s.err()));
      xs.setMarker(SeriesMarkers.CIRCLE);
    }
    save(file, tmp -> {
      try (java.io.OutputStream os = java.nio.file.Files.newOutputStream(tmp)) {
        BitmapEncoder.saveBitmap(c, os, BitmapEncoder.BitmapFormat.PNG);
      }
    });
  }

  /** Points without lines (one series per labelled point or group), error bars where given. */
  static void scatter(Path file, String title, String xTitle, String yTitle, List<Series> series)
      throws IOException {
    System.setProperty("java.awt.headless", "true");
    XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(xTitle)
        .yAxisTitle(yTitle).build();
    c.getStyler().setDefaultSeriesRenderStyle(
        org.knowm.xchart.XYSeries.XYSeriesRenderStyle.Scatter);
    c.getStyler().setMarkerSize(10);
    c.getStyler().setSeriesColors(PALETTE);
    for (Series s : series) {
      if (s.err() == null) {
        c.addSeries(s.name(), s.x(), finite(s.y()));
      } else {
        c.addSeries(s.name(), s.x(), finite(s.y()), finite(s.err()));
      }
    }
    save(file, tmp -> {
      try (java.io.OutputStream os = java.nio.file.Files.newOutputStream(tmp)) {
        BitmapEncoder.saveBitmap(c, os, BitmapEncoder.BitmapFormat.PNG);
      }
    });
  }

  /**
   * The pre-training probe of a base model ({@code probe_*} in its metrics.jsonl: student and
   * teacher accuracy against the step) as {@code probe.png} in the model's directory; returns the
   * chart, or null if no probe ran.
   */
  static Path probe(Path baseDir) throws IOException {
    java.util.Map<String, java.util.List<double[]>> byKey = new java.util.LinkedHashMap<>();
    com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
    for (com.fasterxml.jackson.databind.JsonNode j
        : org.sdpo.transformer.io.TextFiles.readJsonLines(json, baseDir.resolve("metrics.jsonl"))) {
      for (java.util.Iterator<String> it = j.fieldNames(); it.hasNext(); ) {
        String k = it.next();
        if (k.startsWith("probe_") && j.get(k).isNumber()) {
          byKey.computeIfAbsent(k.substring("probe_".length()), x -> new java.util.ArrayList<>())
              .add(new double[] {j.path("step").asDouble(), j.get(k).asDouble()});
        }
      }
    }
    if (byKey.isEmpty()) {
      return null;
    }
    List<Series> series = new java.util.ArrayList<>();
    byKey.forEach((k, pts) -> series.add(new Series(k.replace('_', ' '),
        pts.stream().mapToDouble(p -> p[0]).toArray(), pts.stream().mapToDouble(p -> p[1])
            .toArray(), null)));
    Path out = baseDir.resolve("probe.png");
    lines(out, "Pre-training probe: held-out accuracy without and with feedback in the context",
        "pre-training step", "accuracy", series, false);
    return out;
  }

  /**
   * Rates (every value in [0, 1]) get a y axis that stays inside [0, 1]: a t-interval from few
   * seeds can reach below 0 or above 1, which no accuracy can, and would otherwise set the scale.
   */
  private static void clampToUnitInterval(XYChart c, List<Series> series) {
    double lo = Double.POSITIVE_INFINITY;
    double hi = Double.NEGATIVE_INFINITY;
    for (Series s : series) {
      for (int i = 0; i < s.y().length; i++) {
        double y = s.y()[i];
        if (!Double.isFinite(y)) {
          continue;
        }
        if (y < 0 || y > 1) {
          return;
        }
        double e = s.err() == null || !Double.isFinite(s.err()[i]) ? 0 : s.err()[i];
        lo = Math.min(lo, y - e);
        hi = Math.max(hi, y + e);
      }
    }
    if (lo < 0) {
      c.getStyler().setYAxisMin(0.0);
    }
    if (hi > 1) {
      c.getStyler().setYAxisMax(1.0);
    }
  }

  /** Non-finite values are drawn as 0 (xchart rejects NaN). */
  private static double[] finite(double[] v) {
    double[] o = v.clone();
    for (int i = 0; i < o.length; i++) {
      o[i] = Double.isFinite(o[i]) ? o[i] : 0;
    }
    return o;
  }
}
