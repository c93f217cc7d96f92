package dev.kubemtls.core.rotation;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.CertificateFailedException;
import dev.kubemtls.core.IssuanceTimeoutException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TlsIdentity;


/**
 * Obtains one new {@link TlsIdentity}: a fresh key pair, a CSR, the wait until it is issued, and
 * the validation of what came back. {@code CertificateIssuer} is the Kubernetes implementation;
 * the {@link CertificateManager} calls an {@code IdentityIssuer} at every renewal, on one of its
 * scheduler's threads, and learns from {@link #issue(long, java.util.function.Consumer)} which
 * stage the request is in ({@link IssuanceProgress}) while it waits.
 */
@FunctionalInterface
public interface IdentityIssuer {

  /**
   * Blocks until a new identity is issued and validated.
   *
   * @param generation the generation number the new identity must carry
   * @throws CertificateDeniedException if the approver denied the request
   * @throws CertificateFailedException if the signer failed it or the result is unusable
   * @throws IssuanceTimeoutException   if it was not issued in time
   * @throws MtlsException              for other failures a caller may retry (e.g. the API server
   *                                    is unreachable)
   * @throws InterruptedException       if the calling thread was interrupted while waiting
   */
  TlsIdentity issue(long generation) throws InterruptedException;

  /**
   * Like {@link #issue(long)}, telling {@code progress} where the request stands at each change of
   * stage (called on the calling thread, before this method returns). The
   * {@link CertificateManager} calls this one; the default reports nothing and calls
   * {@link #issue(long)}.
   *
   * @param progress told of each stage; must not be held after this method returns
   */
  default TlsIdentity issue(long generation, java.util.function.Consumer<IssuanceProgress> progress)
      throws InterruptedException {
    return issue(generation);
  }
}
