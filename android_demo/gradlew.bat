@rem Gradle wrapper launcher for the Android demo (Windows).
@rem The wrapper jar is not committed: run "gradle wrapper --gradle-version 8.10.2" in this folder
@rem once (needs internet), or open the project in Android Studio. See README.md.
@echo off
set APP_HOME=%~dp0
set JAR=%APP_HOME%gradle\wrapper\gradle-wrapper.jar
if not exist "%JAR%" (
  echo gradlew: error: %JAR% is missing; run "gradle wrapper --gradle-version 8.10.2" in %APP_HOME% once, or open the project in Android Studio 1>&2
  exit /b 1
)
if defined JAVA_HOME (set JAVACMD=%JAVA_HOME%\bin\java.exe) else (set JAVACMD=java.exe)
"%JAVACMD%" %DEFAULT_JVM_OPTS% %JAVA_OPTS% %GRADLE_OPTS% "-Dorg.gradle.appname=gradlew" -classpath "%JAR%" org.gradle.wrapper.GradleWrapperMain %*
