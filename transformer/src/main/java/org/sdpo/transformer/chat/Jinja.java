package org.sdpo.transformer.chat;

import java.util.List;
import java.util.Map;
import org.sdpo.transformer.chat.Ast.Node;

/**
 * A Jinja template engine for chat templates: the subset of Jinja2 that Hugging Face chat
 * templates are written in, with Jinja2's and Python's semantics, compiled once and rendered
 * many times. Statements: if/elif/else, for (tuple targets, loop filters, else, the loop
 * variable, break/continue), set (also block sets and namespace attributes), macro,
 * generation. Expressions: Python literals, attribute, subscript and slice (with a step) access,
 * calls with keyword arguments, the usual operators, conditional expressions, filters and tests
 * ({@link Builtins}). Whitespace control as Jinja2's {@code trim_blocks} and
 * {@code lstrip_blocks} options and the {@code -} and {@code +} tag modifiers. A syntax error is
 * reported when compiling, with its line; undefined names print as nothing, as in Jinja2.
 */
public final class Jinja {
  private final List<Node> tree;

  private Jinja(List<Node> tree) {
    this.tree = tree;
  }

  /**
   * Compiles a template.
   *
   * @throws JinjaException naming the line of a syntax error
   */
  public static Jinja compile(String source, boolean trimBlocks, boolean lstripBlocks) {
    return new Jinja(Parser.parse(Lexer.lex(source, trimBlocks, lstripBlocks)));
  }

  /** What {@code raise_exception(message)} in a template throws. */
  public static final class RaisedException extends RuntimeException {
    RaisedException(String message) {
      super(message);
    }
  }

  /**
   * Renders with the given variables (Java maps, lists, strings, numbers, booleans, null).
   *
   * @throws JinjaException naming the line of a runtime error
   * @throws RaisedException with the template's message when it calls raise_exception
   */
  public String render(Map<String, ?> variables) {
    Interpreter.Scope scope = new Interpreter.Scope(null);
    variables.forEach((k, v) -> scope.vars.put(k, Py.of(v)));
    StringBuilder out = new StringBuilder();
    try {
      new Interpreter().render(tree, scope, out);
    } catch (Builtins.Raised e) {
      throw new RaisedException(e.getMessage());
    } catch (StackOverflowError e) {
      throw new JinjaException("the template recurses too deeply");
    }
    return out.toString();
  }
}
