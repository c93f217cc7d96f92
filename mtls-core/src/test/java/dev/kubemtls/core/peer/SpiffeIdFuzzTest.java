package dev.kubemtls.core.peer;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;

/**
 * Coverage-guided fuzz test of {@link SpiffeId#parse}, which reads the URI SAN of every peer
 * certificate and the SPIFFE IDs of peer policies. The input is the URI as a certificate carries it
 * (an IA5String, read here as UTF-8 so that non-ASCII input is tried as well).
 *
 * <p>The contract: a malformed ID raises {@link IllegalArgumentException} and nothing else, and
 * {@link SpiffeId#isValid} agrees; a parsed ID prints back to exactly its input, parses again to an
 * equal ID, has a trust domain of lower-case letters, digits, '.', '-' and '_', no empty, '.' or '..'
 * path segment, and a namespace and ServiceAccount only for the {@code /ns/<ns>/sa/<sa>} form.
 *
 * <p>In a plain build this runs once per committed seed ({@code SpiffeIdFuzzTestInputs/parse/}:
 * ServiceAccount IDs, a bare trust domain, path traversal, upper case, an over-long ID).
 */
class SpiffeIdFuzzTest {

  @FuzzTest
  void parse(byte[] input) {
    String text = new String(input, StandardCharsets.UTF_8);
    SpiffeId id;
    try {
      id = SpiffeId.parse(text);
    } catch (IllegalArgumentException expected) {
      assertThat(SpiffeId.isValid(text)).isFalse();
      return;
    }
    assertThat(SpiffeId.isValid(text)).isTrue();
    assertThat(id.toString()).isEqualTo(text);
    assertThat(SpiffeId.parse(id.toString())).isEqualTo(id);
    assertThat(id.trustDomain()).matches("[a-z0-9._-]{1,255}");
    if (!id.path().isEmpty()) {
      for (String segment : id.path().substring(1).split("/", -1)) {
        assertThat(segment).isNotEmpty().isNotEqualTo(".").isNotEqualTo("..");
      }
    }
    assertThat(id.namespace().isPresent()).isEqualTo(id.serviceAccount().isPresent());
    id.namespace().ifPresent(ns -> assertThat(id.path()).isEqualTo("/ns/" + ns + "/sa/" + id.serviceAccount().get()));
  }
}
