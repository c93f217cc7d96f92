package dev.kubemtls.testkit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.CountDownLatch;

/**
 * Runs the embedded control plane (with kube-controller-manager) until the process is stopped,
 * and writes its admin kubeconfig to the file given as the only argument. For running tests
 * against one long-lived control plane with {@code -Dkube-mtls.control-plane=kubeconfig
 * -Dkube-mtls.kubeconfig=<that file>}, or for poking at it with kubectl.
 */
public final class ControlPlaneMain {

  private ControlPlaneMain() {}

  /**
   * Starts the control plane, writes the kubeconfig and waits for the end of the process.
   *
   * @param args the kubeconfig file to write
   */
  public static void main(String[] args) throws IOException, InterruptedException {
    if (args.length != 1) {
      System.err.println("usage: ControlPlaneMain <kubeconfig file to write>");
      System.exit(2);
    }
    ControlPlane cp = ControlPlane.sharedWithControllerManager();
    Path target = Path.of(args[0]).toAbsolutePath();
    Files.copy(cp.writeAdminKubeconfig(), target, StandardCopyOption.REPLACE_EXISTING);
    Path sec1 = withSec1ClientKey(target);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        Files.deleteIfExists(target);
        if (sec1 != null) {
          Files.deleteIfExists(sec1);
        }
      } catch (IOException ignored) {
        // the control plane is gone anyway
      }
    }));
    System.out.println("control plane up at " + cp.apiServerUrl() + "; admin kubeconfig: " + target
        + "; stop with Ctrl-C");
    new CountDownLatch(1).await();
  }

  /**
   * Rewrites {@code kubeconfig}'s {@code client-key} file reference to a copy of the key in SEC1 form
   * ({@code EC PRIVATE KEY}) when it is an EC key in PKCS#8 ({@code PRIVATE KEY}): fabric8, and so a
   * local signer or any Java client, takes a PKCS#8 key for RSA unless told otherwise, while it
   * recognises the SEC1 form (kubectl reads both).
   *
   * @return the SEC1 key file written next to the kubeconfig, or null if nothing was changed
   */
  static Path withSec1ClientKey(Path kubeconfig) throws IOException {
    String text = Files.readString(kubeconfig);
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^(\\s*client-key:\\s*)(\\S+)\\s*$").matcher(text);
    if (!m.find()) {
      return null;
    }
    Path keyFile = Path.of(m.group(2));
    String pem = Files.readString(keyFile);
    String begin = "-----BEGIN PRIVATE KEY-----";
    String end = "-----END PRIVATE KEY-----";
    if (!pem.contains(begin) || !pem.contains(end)) {
      return null;
    }
    byte[] der = java.util.Base64.getMimeDecoder().decode(pem.substring(pem.indexOf(begin) + begin.length(),
        pem.indexOf(end)));
    org.bouncycastle.asn1.pkcs.PrivateKeyInfo info = org.bouncycastle.asn1.pkcs.PrivateKeyInfo.getInstance(der);
    if (!org.bouncycastle.asn1.x9.X9ObjectIdentifiers.id_ecPublicKey.equals(info.getPrivateKeyAlgorithm().getAlgorithm())) {
      return null;
    }
    org.bouncycastle.asn1.sec.ECPrivateKey inner = org.bouncycastle.asn1.sec.ECPrivateKey.getInstance(info.parsePrivateKey());
    org.bouncycastle.asn1.ASN1ObjectIdentifier curve = org.bouncycastle.asn1.ASN1ObjectIdentifier.getInstance(
        info.getPrivateKeyAlgorithm().getParameters());
    int orderBits = org.bouncycastle.asn1.x9.ECNamedCurveTable.getByOID(curve).getN().bitLength();
    byte[] sec1 = new org.bouncycastle.asn1.sec.ECPrivateKey(orderBits, inner.getKey(), inner.getPublicKey(), curve)
        .getEncoded();
    Path target = kubeconfig.resolveSibling(kubeconfig.getFileName() + ".key");
    Files.writeString(target, "-----BEGIN EC PRIVATE KEY-----\n"
        + java.util.Base64.getMimeEncoder(64, "\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).encodeToString(sec1)
        + "\n-----END EC PRIVATE KEY-----\n");
    Files.writeString(kubeconfig, text.substring(0, m.start(2)) + target.toAbsolutePath() + text.substring(m.end(2)));
    return target;
  }
}
