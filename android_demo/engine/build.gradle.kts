// The anytime engine: plain Java, no Android imports. The app depends on it; its JUnit tests also
// run without Gradle: `bash android_demo/engine/run_tests.sh` (javac + the JUnit console launcher).
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_1_8
    targetCompatibility = JavaVersion.VERSION_1_8
}

tasks.withType<JavaCompile>().configureEach {
    // Only APIs Android has at minSdk 24.
    options.release.set(8)
}

// The manifest contract's schema (Schema.manifestSchema reads it from the class path): the package's one file.
sourceSets {
    main {
        resources {
            srcDir("../../hne_tf/export")
            include("manifest.schema.json")
        }
    }
}

dependencies {
    // org.json is part of Android; on the JVM it comes from the same API, packaged for Maven.
    compileOnly(libs.android.json)
    testImplementation(libs.android.json)
    testImplementation(platform(libs.junit.bom))
    testImplementation(libs.junit.jupiter)
    testRuntimeOnly(libs.junit.platform.launcher)
}

tasks.test {
    useJUnitPlatform()
    // The cross-check with the Python runner: ./gradlew :engine:test -Phnetf.fixture=... etc.
    for (key in listOf("hnetf.fixture", "hnetf.manifest", "hnetf.samples", "hnetf.preprocessed")) {
        project.findProperty(key)?.let { systemProperty(key, it.toString()) }
    }
    systemProperty("java.awt.headless", "true")
}
