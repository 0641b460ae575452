# The inference server of docker-compose.yml: the official vLLM image, plus the xgrammar release
# that compiles the verdict schema. xgrammar 0.2.8 (which vLLM 0.32 pins) fails on the rationale's
# bounded pattern when its grammar cache is on, as vLLM runs it ("per_rule_fsm_hashes" check);
# 0.2.9 compiles it, and its masks are the ones the in-process engine uses.
FROM vllm/vllm-openai:v0.32.0
RUN pip install --no-cache-dir --no-deps "xgrammar==0.2.9"
