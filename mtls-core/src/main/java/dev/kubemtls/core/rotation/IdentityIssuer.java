package dev.kubemtls.core.rotation;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.CertificateFailedException;
import dev.kubemtls.core.IssuanceTimeoutException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TlsIdentity;


/**
 * Obtains one new {@link TlsIdentity}: a fresh key pair, a CSR, the wait until it is issued, and
 * the validation of what came back. {@code CertificateIssuer} is the Kubernetes implementation;
 * the {@link CertificateManager} calls an {@code IdentityIssuer} at every renewal.
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
}
