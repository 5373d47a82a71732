package org.sdpo.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code ./sdpo bench ...}: end-to-end benchmarks (JMH microbenchmarks live in bench/). */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = "End-to-end benchmarks.",
    subcommands = {BenchVerifiersCommand.class, BenchModelCommand.class,
        BenchSdpoCommand.class})
final class BenchCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
