# What `cmake --install <build> --prefix P` puts under P (docs/install.md): libmfjit and its
# C header, the tools, and the two ways other projects find the library, the CMake package
# (target mfjit::mfjit) and pkg-config's mfjit.pc. libmfjit links every static library of
# mfjit into itself, privately, so neither file names one of them, MLIR or LLVM: a user
# needs only the installed files and the run-time libraries docs/install.md lists.
include(CMakePackageConfigHelpers)
set(mf_generated ${PROJECT_BINARY_DIR}/package)  # the configured files, before installation

install(TARGETS mfjit EXPORT mfjitTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        FILE_SET HEADERS DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})  # for CMake before 3.23, which ignores file sets
# The tools are for users too (README.md): tuning, the tuning database, the AF3 suite through
# the C API, and the generators' output for a problem.
install(TARGETS mf-tune mf-db mf-suite mf-compile RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Not for users: the process each hipRTC compile runs in. The library looks for it at
# ${mf_lib_to_hiprtc_worker} from its own folder (compiler/CMakeLists.txt).
install(TARGETS mf-hiprtc-worker RUNTIME DESTINATION ${mf_hiprtc_worker_dir})

# The CMake package. The version file follows the soname (SOVERSION is the major version):
# the versions that the soname calls compatible.
set(mf_package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/mfjit)
install(EXPORT mfjitTargets NAMESPACE mfjit:: DESTINATION ${mf_package_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/mfjitConfig.cmake.in
                              ${mf_generated}/mfjitConfig.cmake
                              INSTALL_DESTINATION ${mf_package_dir})
write_basic_package_version_file(${mf_generated}/mfjitConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${mf_generated}/mfjitConfig.cmake ${mf_generated}/mfjitConfigVersion.cmake
        DESTINATION ${mf_package_dir})

# pkg-config's file. The prefix is known only when `cmake --install --prefix` runs, so the
# file finds it from where it lies (${pcfiledir}), as the CMake package does; directories
# given as absolute paths stay absolute.
set(mf_pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH mf_pc_to_prefix ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" mf_pc_to_prefix "${mf_pc_to_prefix}")
set(mf_pc_prefix "\${pcfiledir}/${mf_pc_to_prefix}")
foreach(kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
    set(mf_pc_${kind} "${CMAKE_INSTALL_${kind}}")
  else()
    set(mf_pc_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
  endif()
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/mfjit.pc.in ${mf_generated}/mfjit.pc @ONLY)
install(FILES ${mf_generated}/mfjit.pc DESTINATION ${mf_pc_dir})
