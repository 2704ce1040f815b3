# The two commands of the README, and a few helpers.
#   make run    install what is missing, build Release, migrate, seed, serve on :8000
#   make test   install what is missing, build with ASan/UBSan, run every test on both drivers
.PHONY: run test build deps test-deps bench fmt lint clean

BUILD := build

run: build
	./$(BUILD)/praxis migrate
	./$(BUILD)/praxis seed
	./$(BUILD)/praxis serve

test: test-deps
	scripts/test.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
	cmake --build $(BUILD) -j$$(nproc)

bench: test-deps build
	bench/run.sh

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

fmt:
	find src tests bench -name '*.[ch]' | xargs clang-format -i

lint:
	cmake -S . -B build-lint -DCMAKE_BUILD_TYPE=Debug -DBUILD_TESTING=OFF >/dev/null
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
	  --inline-suppr -I src src
	clang-tidy -p build-lint --quiet $$(find src -name '*.c') 2>/dev/null

clean:
	rm -rf build build-asan build-lint
