// A Java CDK app that uses cdk-lakehouse the way a Java user would: from the jar jsii-pacmak
// builds (dist/java, a Maven repository layout), with aws-cdk-lib from Maven Central.
// consumers/run.js synthesizes it and compares its template with the TypeScript twin (consumers/app.ts).
package consumer;

import dev.cdklakehouse.AthenaServing;
import dev.cdklakehouse.Column;
import dev.cdklakehouse.IcebergTableOptions;
import dev.cdklakehouse.LakehouseTier;
import java.util.List;
import software.amazon.awscdk.Stack;

public final class App {
    public static void main(final String[] args) {
        software.amazon.awscdk.App app = new software.amazon.awscdk.App();
        Stack stack = new Stack(app, "Consumer");
        LakehouseTier lake = LakehouseTier.Builder.create(stack, "Lake").lakeName("analytics").build();
        lake.addIcebergTable("Events", IcebergTableOptions.builder()
                .tableName("events")
                .columns(List.of(
                        Column.builder().name("event_id").type("string").build(),
                        Column.builder().name("payload").type("string").build()))
                .build());
        AthenaServing.Builder.create(stack, "Sql").lake(lake).workGroupName("analysts").build();
        app.synth();
    }
}
