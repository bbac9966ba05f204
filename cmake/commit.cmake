# Writes OUT (a C++ file defining softmoe::kBuildCommit) with the checkout's commit, "-dirty" when tracked
# files have uncommitted changes, "" outside a git checkout; rewrites OUT only when that changes, so an
# unchanged checkout rebuilds nothing. Run at every build: cmake -DSOURCE_DIR=... -DOUT=... -P commit.cmake
execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse HEAD OUTPUT_VARIABLE commit
                OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE status ERROR_QUIET)
if(NOT status EQUAL 0)
  set(commit "")
else()
  execute_process(COMMAND git -C "${SOURCE_DIR}" diff --quiet HEAD -- RESULT_VARIABLE dirty ERROR_QUIET)
  if(NOT dirty EQUAL 0)
    set(commit "${commit}-dirty")
  endif()
endif()
set(text "namespace softmoe {\nextern const char* const kBuildCommit;\nconst char* const kBuildCommit = \"${commit}\";\n}  // namespace softmoe\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE "${OUT}" "${text}")
endif()
