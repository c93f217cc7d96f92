package dev.kubemtls.kubernetes.trust;

import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** Records what a {@link TrustSource} tells its listeners, for the trust-source tests. */
final class RecordingTrustListener implements TrustSource.Listener {

  final List<TrustBundle> bundles = new CopyOnWriteArrayList<>();
  final List<MtlsException> problems = new CopyOnWriteArrayList<>();

  @Override
  public void onBundle(TrustBundle bundle) {
    bundles.add(bundle);
  }

  @Override
  public void onProblem(MtlsException problem) {
    problems.add(problem);
  }
}
