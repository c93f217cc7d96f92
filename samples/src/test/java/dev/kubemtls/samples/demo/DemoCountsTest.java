package dev.kubemtls.samples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** How the demo reads the counts of the Kafka and database samples' event lines. */
class DemoCountsTest {

  @Test
  void readsEveryNumericWordAndNothingElse() {
    assertThat(Demo.parseCounts("received=1389 duplicates=0 unexpected=0 missing=0 end=true"))
        .containsExactly(java.util.Map.entry("received", 1389L), java.util.Map.entry("duplicates", 0L),
            java.util.Map.entry("unexpected", 0L), java.util.Map.entry("missing", 0L));
  }

  @Test
  void ignoresWordsThatAreNotCounts() {
    assertThat(Demo.parseCounts("error=\"boom\" =5 sent= failed=-1 queries=12x huge=99999999999999999999"))
        .isEmpty();
    assertThat(Demo.parseCounts("")).isEmpty();
  }
}
