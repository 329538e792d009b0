# Container images, docker compose, and the pipelines on a KFP cluster. Included by the Makefile.
#
#   make build [REGISTRY=...] [TAG=...]   every image, as $(REGISTRY)/taxifare-<service>:$(TAG)
#   make build-<service>                  one image
#   make push                             push them (REGISTRY must name a registry host)
#   make compose-up / compose-down        the whole loop under docker compose
#   make upload / schedule KFP_HOST=...   the compiled pipelines on KFP, and the checker's recurring run
#
# TAG defaults to what `python -m pipelines.compile` uses, so the compiled pipelines name exactly the
# images built here. The trigger image carries the pipelines compiled for those images.

REGISTRY ?= taxifare
ifeq ($(origin TAG),undefined)
TAG := $(shell git describe --always --dirty 2>/dev/null || echo dev)
endif
IMAGE_SERVICES := trainer metrics-writer deployer drift-checker trigger predictor traffic-gen
# Extra `docker build` flags, e.g. DOCKER_BUILD_FLAGS=--network=host where the default bridge
# cannot reach the package index.
DOCKER_BUILD_FLAGS ?=
COMPOSE ?= docker compose
KFP_HOST ?=
# Multi-user KFP only: the profile namespace runs go to.
KFP_NAMESPACE ?=
kfp-flags = --host $(KFP_HOST)$(if $(KFP_NAMESPACE), --namespace $(KFP_NAMESPACE))
# KFP cron: 6 fields, seconds first. Hourly by default.
CHECK_CRON ?= 0 0 * * * *
PYTHON_BIN := $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
TRIGGER := $(if $(wildcard .venv/bin/taxifare-trigger),.venv/bin/taxifare-trigger,taxifare-trigger)

image = $(REGISTRY)/taxifare-$(1):$(TAG)

.PHONY: build push images compile compose-up compose-down compose-config upload schedule \
	$(addprefix build-,$(IMAGE_SERVICES)) $(addprefix push-,$(IMAGE_SERVICES))

build: $(addprefix build-,$(IMAGE_SERVICES)) ## build every image as $(REGISTRY)/taxifare-<service>:$(TAG) (build-<service>: one)

push: $(addprefix push-,$(IMAGE_SERVICES)) ## push every image (REGISTRY must name a registry host, e.g. 127.0.0.1:5000/taxifare)

images: ## list the image references this REGISTRY and TAG give
	@$(foreach s,$(IMAGE_SERVICES),echo $(call image,$(s));)

define image_rules
build-$(1):
	@echo "building $(call image,$(1))"
	docker build $$(DOCKER_BUILD_FLAGS) -f services/$(1)/Dockerfile -t $(call image,$(1)) .

push-$(1):
	@case "$(REGISTRY)" in */*) ;; *) echo "push: REGISTRY=$(REGISTRY) names no registry host (e.g. REGISTRY=127.0.0.1:5000/taxifare)" >&2; exit 2;; esac
	docker push $(call image,$(1))
endef
$(foreach s,$(IMAGE_SERVICES),$(eval $(call image_rules,$(s))))

compile: ## compile the pipelines into pipelines/compiled, naming the images of REGISTRY and TAG
	$(PYTHON_BIN) -m pipelines.compile --registry $(REGISTRY) --tag $(TAG)

# The trigger image runs the compiled pipelines locally, so they must name this build's images:
# compiled for REGISTRY and TAG into a scratch folder (the committed pipelines/compiled stays as it is).
TRIGGER_PIPELINES := .images/pipelines
build-trigger: DOCKER_BUILD_FLAGS += --build-arg PIPELINES_DIR=$(TRIGGER_PIPELINES)
build-trigger: trigger-pipelines
.PHONY: trigger-pipelines
trigger-pipelines:
	rm -rf $(TRIGGER_PIPELINES)
	$(PYTHON_BIN) -m pipelines.compile --registry $(REGISTRY) --tag $(TAG) --out $(TRIGGER_PIPELINES)

# Compose reads .env; REGISTRY, TAG and the Docker socket's group come from here and win over it.
compose-env = REGISTRY=$(REGISTRY) TAG=$(TAG) DOCKER_GID=$$(stat -c %g /var/run/docker.sock)

.env:
	cp .env.example .env
	@echo "created .env from .env.example: set POSTGRES_PASSWORD there before sharing this setup" >&2

compose-config: .env ## check docker-compose.yml with the current .env
	$(compose-env) $(COMPOSE) config -q

compose-up: .env ## the whole loop under docker compose (after make build), in the background
	$(compose-env) $(COMPOSE) up -d

compose-down: ## stop the compose loop and delete its volumes
	$(compose-env) $(COMPOSE) --profile drift down -v

upload: compile ## upload the compiled pipelines to KFP_HOST, as version TAG
	@test -n "$(KFP_HOST)" || { echo "upload: set KFP_HOST (the KFP API, e.g. http://localhost:8888)" >&2; exit 2; }
	$(TRIGGER) upload taxi-fare-predictor $(kfp-flags) --version $(TAG)
	$(TRIGGER) upload retraining-checker $(kfp-flags) --version $(TAG)

schedule: ## create the retraining checker's recurring run on KFP_HOST (CHECK_CRON, hourly)
	@test -n "$(KFP_HOST)" || { echo "schedule: set KFP_HOST (the KFP API, e.g. http://localhost:8888)" >&2; exit 2; }
	$(TRIGGER) schedule-kfp retraining-checker --cron "$(CHECK_CRON)" --version-name $(TAG) \
		$(kfp-flags)
