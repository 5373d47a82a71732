package org.sdpo.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.sdpo.transformer.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo tokenize --model DIR}: for each line of standard input (UTF-8), one JSON array of
 * token ids; with {@code --decode}, each input line is a JSON array and the output its text.
 */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
    description = "Encode stdin lines to JSON arrays of token ids (or --decode the reverse).")
final class TokenizeCommand implements Callable<Integer> {
  @Option(names = "--model", required = true,
      description = "Checkpoint directory with tokenizer files (tokenizer.json, vocab.json + "
          + "merges.txt, or char_tokenizer.json).")
  Path model;

  @Option(names = "--decode", description = "Read JSON arrays of ids and print their text.")
  boolean decode;

  @Override
  public Integer call() throws IOException {
    Tokenizer tok = Tokenizer.load(model);
    ObjectMapper json = new ObjectMapper();
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    int n = 0;
    while ((line = in.readLine()) != null) {
      n++;
      if (!decode) {
        out.println(json.writeValueAsString(tok.encode(line)));
        continue;
      }
      JsonNode arr;
      try {
        arr = json.readTree(line);
      } catch (IOException e) {
        throw new IllegalArgumentException("line " + n + ": not a JSON array of token ids");
      }
      if (arr == null || !arr.isArray()) {
        throw new IllegalArgumentException("line " + n + ": not a JSON array of token ids");
      }
      int[] ids = new int[arr.size()];
      for (int i = 0; i < ids.length; i++) {
        if (!arr.get(i).canConvertToInt()) {
          throw new IllegalArgumentException("line " + n + ": element " + i + " is not an integer");
        }
        ids[i] = arr.get(i).asInt();
      }
      out.println(tok.decode(ids, false));
    }
    out.flush();
    return 0;
  }
}
