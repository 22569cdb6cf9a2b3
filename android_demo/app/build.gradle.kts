plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "org.hnetf.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.hnetf.demo"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
    buildFeatures {
        compose = true
    }
    androidResources {
        // Stored uncompressed so the interpreter can memory-map the models from the APK.
        noCompress += "tflite"
    }
}

// The assets come from an export (python3 android_demo/scripts/fill_assets.py); they are not in git.
val checkAssets by tasks.registering {
    val manifest = layout.projectDirectory.file("src/main/assets/manifest.json").asFile
    val config = layout.projectDirectory.file("src/main/assets/demo_config.json").asFile
    doLast {
        if (!manifest.exists() || !config.exists()) {
            throw GradleException(
                "app/src/main/assets/ has no model: run `python3 android_demo/scripts/fill_assets.py " +
                    "--export=runs/hne_fashion_mnist_tflite --precision=float32` from the repository root first"
            )
        }
    }
}
tasks.named("preBuild") { dependsOn(checkAssets) }

dependencies {
    implementation(project(":engine"))
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.lifecycle.runtime.ktx)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(libs.androidx.activity.compose)
    implementation(platform(libs.androidx.compose.bom))
    implementation(libs.androidx.ui)
    implementation(libs.androidx.ui.graphics)
    implementation(libs.androidx.ui.tooling.preview)
    implementation(libs.androidx.material3)
    implementation(libs.kotlinx.coroutines.android)
    implementation(libs.androidx.camera.core)
    implementation(libs.androidx.camera.camera2)
    implementation(libs.androidx.camera.lifecycle)
    implementation(libs.androidx.camera.view)
    implementation(libs.androidx.exifinterface)
    implementation(libs.litert)
    implementation(libs.litert.gpu)
    implementation(libs.litert.gpu.api)
    debugImplementation(libs.androidx.ui.tooling)
}
