package org.sdpo.verifiers.code;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Plausible mistakes made to a correct program: a constant off by one, a swapped operator, a
 * wrong variable, a missing colon, a dropped character. Used for teaching material (wrong attempts
 * with their real feedback) and for the property tests.
 */
public final class Mutations {
  private static final Pattern INT = Pattern.compile("(?<![A-Za-z_])\\d+");
  private static final String[][] SWAPS = {{" + ", " - "}, {" - ", " + "}, {" * ", " + "},
      {" > ", " >= "}, {" < ", " <= "}, {" >= ", " > "}, {" <= ", " < "}, {" == ", " != "},
      {" // ", " % "}, {" % ", " // "}, {"x", "y"}, {"return ", "return 1 + "}};

  private Mutations() {}

  /** One random mutation of {@code program} (possibly equivalent to it). */
  public static String mutate(String program, Random r) {
    for (int attempt = 0; attempt < 10; attempt++) {
      String m = once(program, r);
      if (!m.equals(program)) {
        return m;
      }
    }
    return program + "\n    return 0";
  }

  private static String once(String p, Random r) {
    switch (r.nextInt(6)) {
      case 0: {
        List<int[]> spans = new ArrayList<>();
        Matcher m = INT.matcher(p);
        while (m.find()) {
          spans.add(new int[] {m.start(), m.end()});
        }
        if (spans.isEmpty()) {
          return p;
        }
        int[] s = spans.get(r.nextInt(spans.size()));
        long v = Long.parseLong(p.substring(s[0], s[1]));
        long nv = r.nextBoolean() ? v + 1 : Math.max(0, v - 1);
        return p.substring(0, s[0]) + nv + p.substring(s[1]);
      }
      case 1:
      case 2: {
        String[] sw = SWAPS[r.nextInt(SWAPS.length)];
        List<Integer> at = new ArrayList<>();
        for (int i = p.indexOf(sw[0]); i >= 0; i = p.indexOf(sw[0], i + 1)) {
          at.add(i);
        }
        if (at.isEmpty()) {
          return p;
        }
        int i = at.get(r.nextInt(at.size()));
        return p.substring(0, i) + sw[1] + p.substring(i + sw[0].length());
      }
      case 3: {
        int i = p.lastIndexOf(':');
        return i < 0 ? p : p.substring(0, i) + p.substring(i + 1);
      }
      case 4: {
        int i = r.nextInt(p.length());
        return p.substring(0, i) + p.substring(i + 1);
      }
      default: {
        // misspell a variable: the first x becomes z (undefined)
        int i = p.indexOf("x", p.indexOf(')'));
        return i < 0 ? p : p.substring(0, i) + "z" + p.substring(i + 1);
      }
    }
  }
}
