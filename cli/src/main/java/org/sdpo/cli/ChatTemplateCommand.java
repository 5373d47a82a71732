package org.sdpo.cli;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.sdpo.transformer.tokenizer.ChatTemplate;
import org.sdpo.transformer.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo chat-template --model DIR --messages FILE.json}: the prompt text a model's chat
 * template makes of a conversation, as transformers' {@code apply_chat_template(tokenize=False)}
 * renders it.
 */
@Command(name = "chat-template", mixinStandardHelpOptions = true,
    description = "Render a conversation with a model's chat template (tokenizer_config.json's "
        + "chat_template or chat_template.jinja).")
final class ChatTemplateCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "Model or tokenizer directory.")
  Path model;

  @Option(names = "--messages", required = true, description = "JSON file: a list of "
      + "{\"role\", \"content\"} messages, or an object with \"messages\".")
  Path messages;

  @Option(names = "--add-generation-prompt", description = "End with the assistant's header.")
  boolean addGenerationPrompt;

  @Option(names = "--var", description = "A template variable as NAME=JSON, e.g. "
      + "enable_thinking=false (repeatable).")
  List<String> vars;

  @Option(names = "--ids", description = "Also print the token ids (one JSON array).")
  boolean ids;

  @Override
  public Integer call() throws IOException {
    ObjectMapper json = new ObjectMapper();
    JsonNode n = org.sdpo.transformer.io.TextFiles.readTree(json, messages, "JSON");
    JsonNode list = n != null && n.isObject() ? n.get("messages") : n;
    if (list == null || !list.isArray()) {
      throw new IllegalArgumentException(messages + ": expected a JSON list of messages or an "
          + "object with \"messages\"");
    }
    for (int i = 0; i < list.size(); i++) {
      if (!list.get(i).isObject() || !list.get(i).has("role")) {
        throw new IllegalArgumentException(messages + ": message " + i + " needs a \"role\"");
      }
    }
    List<Map<String, Object>> msgs = json.convertValue(list, new TypeReference<>() {});
    Map<String, Object> extra = new LinkedHashMap<>();
    if (vars != null) {
      for (String v : vars) {
        int eq = v.indexOf('=');
        if (eq <= 0) {
          throw new IllegalArgumentException("--var " + v + ": expected NAME=JSON");
        }
        JsonNode value;
        try {
          value = json.readTree(v.substring(eq + 1));
        } catch (IOException e) {
          value = json.getNodeFactory().textNode(v.substring(eq + 1)); // a bare string
        }
        extra.put(v.substring(0, eq), json.convertValue(value, Object.class));
      }
    }
    String text = ChatTemplate.load(model).render(msgs, addGenerationPrompt, extra);
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    out.print(text);
    if (ids) {
      out.println();
      out.println(json.writeValueAsString(Tokenizer.load(model).encode(text)));
    }
    out.flush();
    return 0;
  }
}
