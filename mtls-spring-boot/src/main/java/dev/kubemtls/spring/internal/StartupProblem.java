package dev.kubemtls.spring.internal;

import java.util.Objects;

/**
 * A starter failure the application can fix by configuration: what is wrong (one line) and what to
 * do. {@link KubeMtlsFailureAnalyzer} shows both at the top of the startup report.
 */
public final class StartupProblem extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  private final String action;

  public StartupProblem(String description, String action) {
    super(Objects.requireNonNull(description, "description"));
    this.action = Objects.requireNonNull(action, "action");
  }

  public StartupProblem(String description, String action, Throwable cause) {
    super(Objects.requireNonNull(description, "description"), cause);
    this.action = Objects.requireNonNull(action, "action");
  }

  /** What to set or check. */
  public String action() {
    return action;
  }
}
