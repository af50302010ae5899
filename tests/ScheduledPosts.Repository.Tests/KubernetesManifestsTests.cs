using System.Diagnostics;
using System.Text.RegularExpressions;
using ScheduledPosts.Testing;
using YamlDotNet.RepresentationModel;

namespace ScheduledPosts.Repository.Tests;

/// <summary>
/// deploy/kubernetes: each overlay renders with <c>kubectl kustomize</c> (Debian's kubernetes-client, installed by
/// test.sh), passes <c>kubectl apply --dry-run=client</c> against a stand-in API server, and what it renders is
/// deployable as the operations page says — every Deployment has both probes and resources, is covered by a
/// PodDisruptionBudget and a Service, gets every setting deploy/services.json requires, and takes every secret from a
/// Secret; no secret value is in the repository.
/// </summary>
public sealed partial class KubernetesManifestsTests
{
    private static readonly Deployment Description = Deployment.Current;

    /// <summary>Settings whose values are secret by their name, beside deploy/services.json's list.</summary>
    [GeneratedRegex("(Password|Token|SecretKey|SigningKeys|ConnectionStrings|Credentials__Key|Bootstrap__Key)", RegexOptions.IgnoreCase)]
    private static partial Regex SecretName();

    [Theory]
    [InlineData("dev", new[] { "gateway", "scheduling", "publisher", "webhooks", "sandbox" })]
    [InlineData("production", new[] { "gateway", "scheduling", "publisher", "webhooks" })]
    public async Task The_overlay_renders_and_every_deployment_has_probes_resources_a_budget_a_service_and_no_inline_secret(string overlay, string[] expected)
    {
        var (_, rendered) = await RenderAsync(overlay);

        Assert.DoesNotContain(rendered, d => Kind(d) == "Secret");
        var deployments = rendered.Where(d => Kind(d) == "Deployment").ToList();
        Assert.Equal(expected.Order(), deployments.Select(Name).Order());
        var configData = rendered.Where(d => Kind(d) == "ConfigMap")
            .SelectMany(d => Map(d, "data").Children)
            .ToDictionary(kv => Scalar(kv.Key), kv => Scalar(kv.Value));
        Assert.All(configData.Keys, key => Assert.False(SecretName().IsMatch(key), $"{overlay}: the ConfigMap holds {key}, a secret."));

        foreach (var deployment in deployments)
        {
            string name = Name(deployment);
            var pod = Map(Map(Map(deployment, "spec"), "template"), "spec");
            var container = Assert.Single(((YamlSequenceNode)pod.Children["containers"]).Children.Cast<YamlMappingNode>());
            string health = name == "sandbox" ? "/healthz" : "/readyz";
            Assert.True(ProbePath(container, "livenessProbe") == "/healthz", $"{overlay}: {name} has no liveness probe on /healthz.");
            Assert.True(ProbePath(container, "readinessProbe") == health, $"{overlay}: {name} has no readiness probe on {health}.");
            var resources = Map(container, "resources");
            Assert.True(Value(Map(resources, "requests"), "cpu").Length > 0 && Value(Map(resources, "requests"), "memory").Length > 0,
                $"{overlay}: {name} requests no cpu or memory.");
            Assert.True(Value(Map(resources, "limits"), "memory").Length > 0, $"{overlay}: {name} has no memory limit.");

            var env = ((YamlSequenceNode)container.Children["env"]).Children.Cast<YamlMappingNode>()
                .ToDictionary(e => Scalar(e.Children["name"]), e => e);
            foreach (var (key, variable) in env)
            {
                bool isSecret = SecretName().IsMatch(key) || Description.Secrets.Keys.Select(Deployment.EnvironmentKey).Contains(key);
                bool isPublicKey = key.StartsWith("Internal__TrustedKeys__", StringComparison.Ordinal);
                if (isSecret && !isPublicKey)
                {
                    Assert.False(variable.Children.ContainsKey("value"), $"{overlay}: {name}'s {key} is written inline; it must come from a Secret.");
                    Assert.True(variable.Children.TryGetValue("valueFrom", out var from) && ((YamlMappingNode)from).Children.ContainsKey("secretKeyRef"),
                        $"{overlay}: {name}'s {key} must come from a secretKeyRef.");
                }
            }

            if (Description.Services.FirstOrDefault(s => s.Name == name) is { } described)
            {
                foreach (string setting in described.Settings.Select(Deployment.EnvironmentKey))
                {
                    Assert.True(env.ContainsKey(setting) || configData.ContainsKey(setting), $"{overlay}: {name} is not given {setting} (deploy/services.json requires it).");
                }

                // Wiring to a part this overlay deploys (production has no sandbox) points at its Service and port.
                foreach (var (setting, target) in described.Wiring.Where(w => expected.Contains(w.Value.Service)))
                {
                    int port = Description[target.Service].Listeners.Single(l => l.Name == target.Listener).Port;
                    Assert.True(env.TryGetValue(Deployment.EnvironmentKey(setting), out var wired) && Value(wired, "value") == $"http://{target.Service}:{port}",
                        $"{overlay}: {name}'s {setting} must be http://{target.Service}:{port}.");
                }

                foreach (var listener in described.Listeners)
                {
                    Assert.True(env.TryGetValue(Deployment.ListenerKey(listener.Name), out var url) && Value(url, "value").EndsWith($":{listener.Port}", StringComparison.Ordinal),
                        $"{overlay}: {name} does not listen on {listener.Name} port {listener.Port}.");
                }
            }

            var labels = Map(Map(Map(deployment, "spec"), "selector"), "matchLabels").Children.ToDictionary(kv => Scalar(kv.Key), kv => Scalar(kv.Value));
            Assert.True(rendered.Any(d => Kind(d) == "Service" && Selects(Map(Map(d, "spec"), "selector"), labels)), $"{overlay}: no Service selects {name}.");
            if (name != "sandbox")
            {
                Assert.True(rendered.Any(d => Kind(d) == "PodDisruptionBudget" && Selects(Map(Map(Map(d, "spec"), "selector"), "matchLabels"), labels)),
                    $"{overlay}: no PodDisruptionBudget covers {name}.");
            }
        }
    }

    [Theory]
    [InlineData("dev")]
    [InlineData("production")]
    public async Task The_overlay_passes_kubectl_apply_dry_run_client(string overlay)
    {
        var (yaml, rendered) = await RenderAsync(overlay);

        var (exit, output, errors) = await ApplyDryRunAsync(yaml);

        Assert.True(exit == 0, $"kubectl apply --dry-run=client ({overlay}) exited {exit}: {errors}");
        // -o name: kind.group/name for each object kubectl would have created.
        var expected = rendered.Select(d => $"{Kind(d).ToLowerInvariant()}{(Value(d, "apiVersion").Split('/') is [var group, _] ? "." + group : "")}/{Name(d)}");
        Assert.Equal(expected.Order(), output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order());
    }

    [Fact]
    public async Task The_dry_run_refuses_a_kind_at_a_version_kubernetes_no_longer_serves()
    {
        const string yaml = """
            apiVersion: policy/v1beta1
            kind: PodDisruptionBudget
            metadata:
              name: removed-in-1-25
            spec:
              maxUnavailable: 1
              selector:
                matchLabels:
                  app: gateway
            """;

        var (exit, _, errors) = await ApplyDryRunAsync(yaml);

        Assert.NotEqual(0, exit);
        Assert.Contains("no matches for kind \"PodDisruptionBudget\" in version \"policy/v1beta1\"", errors, StringComparison.Ordinal);
    }

    private static async Task<(string Yaml, List<YamlMappingNode> Documents)> RenderAsync(string overlay)
    {
        var (exit, output, errors) = await KubectlAsync(["kustomize", Path.Combine("deploy", "kubernetes", "overlays", overlay)]);
        Assert.True(exit == 0, $"kubectl kustomize {overlay} exited {exit}: {errors}");

        var stream = new YamlStream();
        stream.Load(new StringReader(output));
        return (output, [.. stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>()]);
    }

    /// <summary><c>kubectl apply --dry-run=client -f -</c> against a fresh stand-in API server, with its own kubeconfig and discovery cache.</summary>
    private static async Task<(int Exit, string Output, string Errors)> ApplyDryRunAsync(string yaml)
    {
        await using var api = await KubernetesApiStandIn.StartAsync();
        var directory = Directory.CreateTempSubdirectory("sp-kubectl-");
        try
        {
            string kubeconfig = Path.Combine(directory.FullName, "config");
            await File.WriteAllTextAsync(kubeconfig, api.Kubeconfig());
            return await KubectlAsync(
                ["apply", "--dry-run=client", "--validate=false", "-o", "name", "--kubeconfig", kubeconfig, "--cache-dir", Path.Combine(directory.FullName, "cache"), "-f", "-"],
                yaml);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static async Task<(int Exit, string Output, string Errors)> KubectlAsync(string[] arguments, string? input = null)
    {
        var start = new ProcessStartInfo("kubectl", arguments)
        {
            WorkingDirectory = Suite.RepoRoot,
            RedirectStandardInput = input is not null,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
        }

        await process.WaitForExitAsync();
        return (process.ExitCode, await output, await errors);
    }

    private static string Kind(YamlMappingNode document) => Scalar(document.Children["kind"]);

    private static string Name(YamlMappingNode document) => Scalar(Map(document, "metadata").Children["name"]);

    private static YamlMappingNode Map(YamlMappingNode node, string key)
        => node.Children.TryGetValue(key, out var child) && child is YamlMappingNode map ? map : new YamlMappingNode();

    private static string Value(YamlMappingNode node, string key) => node.Children.TryGetValue(key, out var child) ? Scalar(child) : "";

    private static string Scalar(YamlNode node) => node is YamlScalarNode { Value: { } value } ? value : "";

    private static string ProbePath(YamlMappingNode container, string probe) => Value(Map(Map(container, probe), "httpGet"), "path");

    private static bool Selects(YamlMappingNode selector, Dictionary<string, string> labels)
        => selector.Children.Count > 0 && selector.Children.All(kv => labels.TryGetValue(Scalar(kv.Key), out string? v) && v == Scalar(kv.Value));
}
