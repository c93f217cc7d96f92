package dev.kubemtls.spring.internal;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.names.DenialReasons;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.diagnostics.FailureAnalyzer;

/**
 * Puts the starter's failures at the top of Spring Boot's startup report, in one line each, with
 * what to do, instead of ten {@code Caused by} levels below "Unable to start web server": a
 * {@link StartupProblem} (a missing identity input, no way to reach the API server), a
 * {@link CertificateDeniedException} (the approver's reason) and any other {@link MtlsException}
 * (no certificate in time, invalid material).
 */
public final class KubeMtlsFailureAnalyzer implements FailureAnalyzer {

  @Override
  public FailureAnalysis analyze(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof StartupProblem p) {
        return new FailureAnalysis(p.getMessage(), p.action(), failure);
      }
      if (t instanceof CertificateDeniedException d) {
        return new FailureAnalysis("kube-mtls: " + d.getMessage(), denialAction(d), failure);
      }
    }
    for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof MtlsException e) {
        return new FailureAnalysis("kube-mtls: " + e.getMessage(),
            "Check that the kube-mtls signer runs and serves kube-mtls.signer-name (kubectl -n kube-mtls get"
                + " pods,lease), that the CSR is not pending (kubectl get csr), and that the trust bundle exists"
                + " in this namespace (kubectl get configmap kube-mtls-ca-bundle); kube-mtls.startup-timeout"
                + " bounds the wait.", failure);
      }
    }
    return null;
  }

  static String denialAction(CertificateDeniedException d) {
    String reasonIs = "The approver will give the same answer to the same request, so the starter did not retry. ";
    return switch (d.reason()) {
      case DenialReasons.POD_BINDING_REQUIRED -> reasonIs
          + "A certificate with DNS or IP names needs a ServiceAccount token bound to a live Pod of that"
          + " ServiceAccount whose status.podIP is POD_IP: in a cluster, run as that Pod with its mounted"
          + " token; outside one, create the Pod object and a token bound to it"
          + " (kubectl create token <sa> --bound-object-kind=Pod --bound-object-name=<pod>).";
      case DenialReasons.UNAUTHORIZED_DNS_NAME -> "Each name in kube-mtls.services must be a Service in this"
          + " namespace whose selector matches this Pod's labels; fix the Service or kube-mtls.services.";
      case DenialReasons.UNAUTHORIZED_IP_ADDRESS -> "POD_IP must be the Pod's status.podIP.";
      case DenialReasons.NOT_SERVICE_ACCOUNT -> reasonIs
          + "The kubeconfig or token authenticates as a user, not as a ServiceAccount: use a ServiceAccount token.";
      case DenialReasons.KEY_NOT_ALLOWED -> reasonIs + "Choose another kube-mtls.key-algorithm.";
      default -> reasonIs + "See the reason above and the approval policy in mtls-signer's README"
          + " (kubectl get csr " + d.csrName() + " -o yaml shows the condition).";
    };
  }
}
