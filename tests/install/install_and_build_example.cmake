# The installed package as a user meets it (docs/install.md), run by ctest as
#   cmake -DBUILD_DIR=... -DEXAMPLES_DIR=... -DWORK_DIR=... -DGENERATOR=... -DC_COMPILER=...
#         -DVERSION=... -DLIBDIR=... -DINCLUDEDIR=... -DBINDIR=... -DHIPRTC_WORKER_DIR=...
#         -P install_and_build_example.cmake
# It installs the build to a fresh prefix under WORK_DIR, checks that every installed binary
# finds its libraries, builds examples/ against the prefix with find_package(mfjit), runs the
# example, and compiles it once more with the flags of pkg-config's mfjit.pc. Any failure
# ends the script with FATAL_ERROR, which fails the test.
cmake_minimum_required(VERSION 3.25)

foreach(variable BUILD_DIR EXAMPLES_DIR WORK_DIR GENERATOR C_COMPILER VERSION LIBDIR INCLUDEDIR BINDIR HIPRTC_WORKER_DIR)
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "install test: -D${variable}=... is missing")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
# The example's kernel cache and tuning database stay inside the test's folder, and no
# library path of the caller's may stand in for the rpaths under test.
set(ENV{MFJIT_CACHE_DIR} ${WORK_DIR}/cache)
unset(ENV{MFJIT_DB})
unset(ENV{LD_LIBRARY_PATH})

# Runs a command; its output lands in the variable named by OUTPUT, and a failure ends the
# test with that output.
function(run what)
  cmake_parse_arguments(ARG "" "OUTPUT" "COMMAND" ${ARGN})
  execute_process(COMMAND ${ARG_COMMAND} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    list(JOIN ARG_COMMAND " " command)
    message(FATAL_ERROR "install test: ${what} failed (${result}):\n  ${command}\n${out}")
  endif()
  if(ARG_OUTPUT)
    set(${ARG_OUTPUT} "${out}" PARENT_SCOPE)
  endif()
endfunction()

run("cmake --install" COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

foreach(file ${LIBDIR}/libmfjit.so ${LIBDIR}/libmfjit.so.${VERSION} ${INCLUDEDIR}/mfjit/mfjit.h
        ${LIBDIR}/cmake/mfjit/mfjitConfig.cmake ${LIBDIR}/cmake/mfjit/mfjitConfigVersion.cmake
        ${LIBDIR}/cmake/mfjit/mfjitTargets.cmake ${LIBDIR}/pkgconfig/mfjit.pc
        ${BINDIR}/mf-tune ${BINDIR}/mf-db ${BINDIR}/mf-suite ${BINDIR}/mf-compile
        ${HIPRTC_WORKER_DIR}/mf-hiprtc-worker)
  if(NOT EXISTS ${prefix}/${file})
    message(FATAL_ERROR "install test: ${prefix}/${file} was not installed")
  endif()
endforeach()

# libmfjit carries mfjit's static libraries inside, so the package and mfjit.pc must name
# none of them, nor a dependency of theirs: a user has only what was installed.
file(GLOB package_files ${prefix}/${LIBDIR}/cmake/mfjit/*.cmake ${prefix}/${LIBDIR}/pkgconfig/mfjit.pc)
foreach(package_file ${package_files})
  file(READ ${package_file} text)
  if(text MATCHES "(mf_[a-z_]+|MLIR|LLVM|fmt::|nlohmann|SQLite|Threads::)")
    message(FATAL_ERROR "install test: ${package_file} names ${CMAKE_MATCH_1}, which is not installed")
  endif()
endforeach()

# Fails unless `binary` loads libmfjit from the prefix (not the build tree, not the system).
function(expect_installed_libmfjit binary)
  run("ldd ${binary}" COMMAND ${LDD} ${binary} OUTPUT libraries)
  string(REGEX MATCH "libmfjit\\.so[.0-9]* => ([^ ]*)" found "${libraries}")
  string(FIND "${CMAKE_MATCH_1}" "${prefix}/" position)
  if(NOT position EQUAL 0)
    message(FATAL_ERROR "install test: ${binary} does not load the installed libmfjit:\n${libraries}")
  endif()
endfunction()

# Every installed binary must find its libraries through its own rpath, and the one tool on
# the shared library must take the installed copy.
find_program(LDD ldd)
if(LDD)
  file(GLOB binaries ${prefix}/${LIBDIR}/libmfjit.so ${prefix}/${BINDIR}/* ${prefix}/${HIPRTC_WORKER_DIR}/*)
  foreach(binary ${binaries})
    run("ldd ${binary}" COMMAND ${LDD} ${binary} OUTPUT libraries)
    if(libraries MATCHES "not found")
      message(FATAL_ERROR "install test: ${binary} misses libraries:\n${libraries}")
    endif()
  endforeach()
  expect_installed_libmfjit(${prefix}/${BINDIR}/mf-suite)
else()
  message(STATUS "install test: ldd not found, the installed binaries' libraries are not checked")
endif()

# The example, as its README builds it (warnings are errors, so the installed header stays
# clean under -Wall -Wextra -Wpedantic in C99).
set(example_build ${WORK_DIR}/example-build)
run("configuring examples/ against the installed package" COMMAND ${CMAKE_COMMAND} -S ${EXAMPLES_DIR} -B ${example_build}
    -G ${GENERATOR} -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-Werror
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
# find_package must have taken this prefix's package, not one installed elsewhere.
file(STRINGS ${example_build}/CMakeCache.txt package_dir REGEX "^mfjit_DIR:")
if(NOT package_dir STREQUAL "mfjit_DIR:PATH=${prefix}/${LIBDIR}/cmake/mfjit")
  message(FATAL_ERROR "install test: find_package(mfjit) took another package: ${package_dir}")
endif()
run("building the example" COMMAND ${CMAKE_COMMAND} --build ${example_build})

run("the example" COMMAND ${example_build}/triangle_attention OUTPUT out)
message(STATUS "install test: the example printed\n${out}")
if(NOT out MATCHES "relative error [^\n]*\nOK\n")
  message(FATAL_ERROR "install test: the example's output lacks its check's OK")
endif()
if(LDD)
  expect_installed_libmfjit(${example_build}/triangle_attention)
endif()

# pkg-config: the flags must name the installed header and library; the example compiles
# and links with them alone (plus libm for its check).
find_program(PKG_CONFIG pkg-config)
if(NOT PKG_CONFIG)
  message(STATUS "install test: SKIPPED the pkg-config part: pkg-config is not installed (tools/setup.sh installs it)")
  return()
endif()
set(ENV{PKG_CONFIG_PATH} ${prefix}/${LIBDIR}/pkgconfig)
run("pkg-config --modversion mfjit" COMMAND ${PKG_CONFIG} --modversion mfjit OUTPUT pc_version)
string(STRIP "${pc_version}" pc_version)
if(NOT pc_version STREQUAL VERSION)
  message(FATAL_ERROR "install test: pkg-config reports mfjit ${pc_version}, the build is ${VERSION}")
endif()
run("pkg-config --cflags --libs mfjit" COMMAND ${PKG_CONFIG} --cflags --libs mfjit OUTPUT pc_flags)
string(STRIP "${pc_flags}" pc_flags)
message(STATUS "install test: pkg-config --cflags --libs mfjit: ${pc_flags}")
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
set(include_ok FALSE)
set(library_ok FALSE)
file(REAL_PATH ${prefix}/${INCLUDEDIR} installed_include_dir)
file(REAL_PATH ${prefix}/${LIBDIR} installed_library_dir)
foreach(flag ${pc_flags})
  if(flag MATCHES "^-([IL])(.+)")
    set(kind ${CMAKE_MATCH_1})
    file(REAL_PATH ${CMAKE_MATCH_2} dir)
    if(kind STREQUAL "I" AND dir STREQUAL installed_include_dir)
      set(include_ok TRUE)
    elseif(kind STREQUAL "L" AND dir STREQUAL installed_library_dir)
      set(library_ok TRUE)
    endif()
  endif()
endforeach()
if(NOT include_ok OR NOT library_ok OR NOT "-lmfjit" IN_LIST pc_flags)
  message(FATAL_ERROR "install test: pkg-config's flags do not name the installed header, folder and library")
endif()
run("compiling the example with pkg-config's flags" COMMAND ${C_COMPILER} -std=c99 -Werror
    ${EXAMPLES_DIR}/triangle_attention.c ${pc_flags} -lm -o ${WORK_DIR}/triangle_attention_pkg_config)
