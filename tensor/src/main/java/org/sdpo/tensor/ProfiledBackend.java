package org.sdpo.tensor;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.Arrays;

/**
 * The CPU backend with every {@link Backend} call timed ({@code SDPO_CPU_PROFILE=1} or
 * {@code -Dsdpo.cpu.profile=true}): the wall time of each call on the calling thread (the CPU
 * backend returns when its work is done), added to a {@link CallProfile} under the method's name,
 * and for a matrix multiply its shapes and transposes as well, since products of different shapes
 * cost different amounts. The table goes to stderr at exit. Calls a backend method makes to another
 * are inside the outer one's time, not rows of their own. Results are unchanged: the calls go to
 * the same backend with the same arguments.
 */
final class ProfiledBackend implements InvocationHandler {
  private final Backend target;
  private final CallProfile profile;

  private ProfiledBackend(Backend target, CallProfile profile) {
    this.target = target;
    this.profile = profile;
  }

  /** Whether profiling was asked for. */
  static boolean wanted() {
    return Boolean.getBoolean("sdpo.cpu.profile") || "1".equals(System.getenv("SDPO_CPU_PROFILE"));
  }

  /** {@code b} with its calls timed into {@code profile}. */
  static Backend wrap(Backend b, CallProfile profile) {
    return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(),
        new Class<?>[] {Backend.class}, new ProfiledBackend(b, profile));
  }

  /** {@code b} with its calls timed, the table printed to stderr when the JVM exits. */
  static Backend wrapUntilExit(Backend b) {
    return wrap(b, new CallProfile("CPU profile (wall time of each backend call; each name's "
        + "first call apart)", "method").printAtExit(30, "sdpo-cpu-profile"));
  }

  /** The backend under a profiled one, or {@code b} itself. */
  static Backend unwrap(Backend b) {
    if (Proxy.isProxyClass(b.getClass())
        && Proxy.getInvocationHandler(b) instanceof ProfiledBackend) {
      return ((ProfiledBackend) Proxy.getInvocationHandler(b)).target;
    }
    return b;
  }

  @Override
  public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
    if (method.getDeclaringClass() == Object.class) {
      return method.invoke(target, args);
    }
    if (method.getName().equals("description")) {
      return target.description() + " (profiled: SDPO_CPU_PROFILE)";
    }
    long t0 = System.nanoTime();
    try {
      return method.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    } finally {
      profile.add(name(method, args), (System.nanoTime() - t0) / 1e6);
    }
  }

  /** The row of a call: the method, and for a matrix multiply its operands' shapes. */
  static String name(Method method, Object[] args) {
    if (method.getName().equals("matmul") && args != null && args.length == 5) {
      Tensor a = (Tensor) args[0];
      Tensor b = (Tensor) args[1];
      return "matmul " + Arrays.toString(a.shape()) + ((Boolean) args[3] ? "ᵀ" : "") + " x "
          + Arrays.toString(b.shape()) + ((Boolean) args[4] ? "ᵀ" : "");
    }
    return method.getName();
  }
}
