# The C# binding (bindings/csharp), included from tests/CMakeLists.txt:
# Parallax.dll, its NUnit suite and the README's example, compiled with
# Debian's mcs into ${CMAKE_BINARY_DIR}/csharp and run under mono against the
# library just built (LD_LIBRARY_PATH = the directory of libparallax.so.0;
# Parallax.dll.config maps [DllImport("parallax")] to that file).
#
# Tests (label `bindings`): csharp.binding (nunit-console, Debian's NUnit 2.6)
# and examples.csharp. Without mcs, mono or NUnit at configure time they are
# registered as failing tests that say to run `make deps`.

set(PLX_CSHARP_SOURCE "${CMAKE_CURRENT_LIST_DIR}")
set(PLX_CSHARP_OUT "${CMAKE_BINARY_DIR}/csharp")

find_program(PLX_MCS mcs)
find_program(PLX_MONO mono)
find_program(PLX_NUNIT_CONSOLE nunit-console)
find_file(PLX_NUNIT_FRAMEWORK nunit.framework.dll
          PATHS /usr/lib/cli/nunit.framework-2.6.3 /usr/lib/cli/nunit.framework-2.6 /usr/lib/mono/nunit
          NO_DEFAULT_PATH)

set(PLX_CSHARP_MISSING "")
foreach(pair "PLX_MCS:mcs" "PLX_MONO:mono" "PLX_NUNIT_CONSOLE:nunit-console" "PLX_NUNIT_FRAMEWORK:nunit.framework.dll")
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 variable)
  list(GET pair 1 name)
  if(NOT ${variable})
    list(APPEND PLX_CSHARP_MISSING ${name})
  endif()
endforeach()
string(REPLACE ";" ", " PLX_CSHARP_MISSING "${PLX_CSHARP_MISSING}")

if(PLX_CSHARP_MISSING)
  message(WARNING "C# binding: ${PLX_CSHARP_MISSING} not found (Debian: mono-mcs mono-runtime nunit-console "
                  "libnunit-framework2.6.3-cil); its tests will fail until `make deps` installs them and cmake "
                  "is run again.")
  foreach(name csharp.binding examples.csharp)
    add_test(NAME ${name}
             COMMAND sh -c "echo 'C# binding: ${PLX_CSHARP_MISSING} not found when cmake ran: run make deps (it installs mono-mcs, mono-runtime and NUnit), then reconfigure (cmake -S . -B build)' >&2; exit 1")
    set_tests_properties(${name} PROPERTIES LABELS bindings)
  endforeach()
  return()
endif()

file(GLOB PLX_CSHARP_SOURCES CONFIGURE_DEPENDS "${PLX_CSHARP_SOURCE}/src/*.cs")
file(GLOB PLX_CSHARP_TEST_SOURCES CONFIGURE_DEPENDS "${PLX_CSHARP_SOURCE}/tests/*.cs")
set(PLX_MCS_FLAGS -nologo -unsafe -debug -optimize+ -warn:4 -warnaserror+)

add_custom_command(
  OUTPUT "${PLX_CSHARP_OUT}/Parallax.dll" "${PLX_CSHARP_OUT}/Parallax.dll.config"
  COMMAND ${CMAKE_COMMAND} -E make_directory "${PLX_CSHARP_OUT}"
  COMMAND ${PLX_MCS} ${PLX_MCS_FLAGS} -target:library "-out:${PLX_CSHARP_OUT}/Parallax.dll" ${PLX_CSHARP_SOURCES}
  COMMAND ${CMAKE_COMMAND} -E copy "${PLX_CSHARP_SOURCE}/Parallax.dll.config" "${PLX_CSHARP_OUT}/Parallax.dll.config"
  DEPENDS ${PLX_CSHARP_SOURCES} "${PLX_CSHARP_SOURCE}/Parallax.dll.config"
  COMMENT "C#: Parallax.dll (mcs)"
  VERBATIM)

add_custom_command(
  OUTPUT "${PLX_CSHARP_OUT}/Parallax.Tests.dll" "${PLX_CSHARP_OUT}/Probe.exe" "${PLX_CSHARP_OUT}/Example.exe"
  COMMAND ${PLX_MCS} ${PLX_MCS_FLAGS} -target:library "-out:${PLX_CSHARP_OUT}/Parallax.Tests.dll"
          "-r:${PLX_CSHARP_OUT}/Parallax.dll" "-r:${PLX_NUNIT_FRAMEWORK}" -r:System.Core.dll ${PLX_CSHARP_TEST_SOURCES}
  COMMAND ${PLX_MCS} ${PLX_MCS_FLAGS} "-out:${PLX_CSHARP_OUT}/Probe.exe" "-r:${PLX_CSHARP_OUT}/Parallax.dll"
          "${PLX_CSHARP_SOURCE}/tests/probe/Probe.cs"
  COMMAND ${PLX_MCS} ${PLX_MCS_FLAGS} "-out:${PLX_CSHARP_OUT}/Example.exe" "-r:${PLX_CSHARP_OUT}/Parallax.dll"
          "${PLX_CSHARP_SOURCE}/examples/Example.cs"
  DEPENDS "${PLX_CSHARP_OUT}/Parallax.dll" ${PLX_CSHARP_TEST_SOURCES} "${PLX_CSHARP_SOURCE}/tests/probe/Probe.cs"
          "${PLX_CSHARP_SOURCE}/examples/Example.cs"
  COMMENT "C#: Parallax.Tests.dll, Probe.exe, Example.exe (mcs)"
  VERBATIM)

add_custom_target(parallax_csharp ALL
  DEPENDS "${PLX_CSHARP_OUT}/Parallax.dll" "${PLX_CSHARP_OUT}/Parallax.Tests.dll" "${PLX_CSHARP_OUT}/Example.exe")

set(PLX_CSHARP_ENV
  "LD_LIBRARY_PATH=$<TARGET_FILE_DIR:parallax>"
  "PARALLAX_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
  "PLX_MONO=${PLX_MONO}"
  "MONO_PATH=${PLX_CSHARP_OUT}")

# -domain=None: the tests run in nunit-console's own AppDomain (library threads call back into it; no domain
# unload at the end); -noshadow: Parallax.dll is loaded where Parallax.dll.config sits.
add_test(NAME csharp.binding
         COMMAND ${PLX_NUNIT_CONSOLE} -nologo -noshadow -domain=None -labels "-xml=${PLX_CSHARP_OUT}/TestResult.xml"
                 "${PLX_CSHARP_OUT}/Parallax.Tests.dll"
         WORKING_DIRECTORY "${PLX_CSHARP_OUT}")
set_tests_properties(csharp.binding PROPERTIES LABELS bindings TIMEOUT 300 ENVIRONMENT "${PLX_CSHARP_ENV}")

add_test(NAME examples.csharp COMMAND ${PLX_MONO} "${PLX_CSHARP_OUT}/Example.exe" WORKING_DIRECTORY "${PLX_CSHARP_OUT}")
set_tests_properties(examples.csharp PROPERTIES LABELS "bindings;examples" ENVIRONMENT "${PLX_CSHARP_ENV}"
  PASS_REGULAR_EXPRESSION "stack: pixel \\(10, 10\\) = 100\\.[0-9]+ from 9 of 10 frames.*coadd: 2304 pixels covered; left 1, overlap 2 \\(footprint 2\\), right 3.*parallel_for: sum = 2999997")
