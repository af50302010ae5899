using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using ScheduledPosts.Testing;
using YamlDotNet.RepresentationModel;

namespace ScheduledPosts.Repository.Tests;

/// <summary>
/// deploy/services.json is the one description of the deployment. docker-compose.yml, the Dockerfile, run.sh, the
/// tests' Suite and the appsettings files each say part of it again; these fail, saying what drifted, when they disagree.
/// </summary>
public sealed partial class DeploymentDescriptionTests
{
    private static readonly Deployment Description = Deployment.Current;

    private static string Read(string path) => File.ReadAllText(Path.Combine(Suite.RepoRoot, path));

    [Fact]
    public void Every_described_project_exists_builds_the_described_assembly_and_is_wired_to_listeners_that_exist()
    {
        foreach (var service in Description.Services)
        {
            string project = Path.Combine(Suite.RepoRoot, service.Project);
            Assert.True(File.Exists(project), $"deploy/services.json: {service.Name}'s project {service.Project} does not exist.");
            string assembly = (XDocument.Load(project).Descendants("AssemblyName").FirstOrDefault()?.Value
                ?? Path.GetFileNameWithoutExtension(project)) + ".dll";
            Assert.True(assembly == service.Assembly, $"deploy/services.json: {service.Name}'s assembly is {service.Assembly}, its project builds {assembly}.");
            Assert.True(service.Listeners.Count > 0, $"deploy/services.json: {service.Name} has no listener.");
            foreach (var (setting, target) in service.Wiring)
            {
                Assert.True(Description.Services.Any(s => s.Name == target.Service && s.Listeners.Any(l => l.Name == target.Listener)),
                    $"deploy/services.json: {service.Name}'s {setting} points at {target.Service}.{target.Listener}, which is not a described listener.");
            }
        }

        var ports = Description.Services.SelectMany(s => s.Listeners.Select(l => (s.Name, l.Name, l.Port))).ToList();
        foreach (var clash in ports.GroupBy(p => p.Port).Where(g => g.Count() > 1))
        {
            Assert.Fail($"deploy/services.json: port {clash.Key} is given to {string.Join(" and ", clash.Select(p => $"{p.Item1}.{p.Item2}"))}.");
        }
    }

    [Fact]
    public void Compose_runs_every_described_service_from_one_image_with_its_listeners_settings_and_wiring()
    {
        var services = Compose()["services"];
        var images = new HashSet<string>();
        var builders = new List<string>();
        foreach (var service in Description.Services)
        {
            Assert.True(Map(services).TryGetValue(service.Name, out var node), $"docker-compose.yml has no service {service.Name}.");
            var compose = Map(node);
            images.Add(compose.TryGetValue("image", out var image) ? Scalar(image) : $"(none: {service.Name})");
            if (compose.ContainsKey("build"))
            {
                builders.Add(service.Name);
            }

            var environment = compose.TryGetValue("environment", out var env) ? Map(env).ToDictionary(e => e.Key, e => Scalar(e.Value)) : [];
            string Env(string key) => environment.TryGetValue(key, out string? value) && value.Length > 0
                ? value
                : throw new Xunit.Sdk.XunitException($"docker-compose.yml: {service.Name} does not set {key}.");

            Assert.True(Env("SP_APP") == service.Name, $"docker-compose.yml: {service.Name} runs SP_APP={Env("SP_APP")}, not {service.Name}.");
            Assert.True(Env("SP_ASSEMBLY") == service.Assembly, $"docker-compose.yml: {service.Name} runs {Env("SP_ASSEMBLY")}, deploy/services.json says {service.Assembly}.");
            foreach (var listener in service.Listeners)
            {
                string url = Env(Deployment.ListenerKey(listener.Name));
                Assert.True(url == $"http://+:{listener.Port}",
                    $"docker-compose.yml: {service.Name}'s {listener.Name} listener is {url}, deploy/services.json says port {listener.Port}.");
            }

            foreach (string setting in service.Settings)
            {
                Env(Deployment.EnvironmentKey(setting));
            }

            foreach (var (setting, target) in service.Wiring)
            {
                string expected = $"http://{target.Service}:{Description[target.Service].Listeners.Single(l => l.Name == target.Listener).Port}";
                string actual = Env(Deployment.EnvironmentKey(setting));
                Assert.True(actual == expected, $"docker-compose.yml: {service.Name}'s {setting} is {actual}; deploy/services.json points it at {target.Service}.{target.Listener}, {expected}.");
            }

            foreach (string published in compose.TryGetValue("ports", out var ports) ? ((YamlSequenceNode)ports).Children.Select(Scalar) : [])
            {
                int port = int.Parse(published.Split(':')[^1], System.Globalization.CultureInfo.InvariantCulture);
                Assert.True(service.Listeners.Any(l => l.Port == port), $"docker-compose.yml publishes {service.Name}'s port {port}, which is none of its described listeners.");
            }
        }

        Assert.True(images.Count == 1, $"docker-compose.yml: the services should share one image, they use {string.Join(", ", images)}.");
        Assert.True(builders.Count == 1, $"docker-compose.yml: exactly one service should build the image, these do: {string.Join(", ", builders)}.");
    }

    [Fact]
    public void Compose_has_no_default_for_a_secret_and_its_header_lists_every_variable_it_needs()
    {
        string compose = Read("docker-compose.yml");
        foreach (Match fallback in Fallback().Matches(compose))
        {
            Assert.True(fallback.Groups["default"].Value.Length == 0,
                $"docker-compose.yml falls back to a constant for {fallback.Groups["name"].Value} ({fallback.Value}): require it with ${{NAME:?message}}.");
        }

        var environments = Map(Compose()["services"]).Where(s => Description.Services.Any(d => d.Name == s.Key))
            .SelectMany(s => Map(Map(s.Value)["environment"]).Select(e => (Service: s.Key, e.Key, Value: Scalar(e.Value))));
        foreach (var (service, key, value) in environments)
        {
            if (Description.Secrets.Keys.Select(Deployment.EnvironmentKey).Contains(key))
            {
                Assert.True(Required().IsMatch(value), $"docker-compose.yml: {service}'s secret {key} must be a required variable (${{NAME:?message}}), not {value}.");
            }
        }

        string header = string.Join('\n', compose.Split('\n').TakeWhile(line => line.StartsWith('#')));
        foreach (string variable in Variable().Matches(compose).Select(m => m.Groups[1].Value).Distinct())
        {
            Assert.True(header.Contains(variable, StringComparison.Ordinal), $"docker-compose.yml needs {variable}, and its header comment does not say so.");
        }
    }

    [Fact]
    public void Dockerfile_restores_from_the_project_files_alone_then_publishes_every_described_project_as_a_non_root_user()
    {
        string dockerfile = Read("Dockerfile");
        var apps = AppsArg().Match(dockerfile).Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(a => a.Split('=')).ToDictionary(a => a[0], a => a[1]);
        foreach (var service in Description.Services)
        {
            Assert.True(apps.TryGetValue(service.Name, out string? project) && project == service.Project,
                $"Dockerfile: APPS should publish {service.Project} to /app/{service.Name}; it has {(project ?? "nothing")}.");
        }

        Assert.True(apps.Count == Description.Services.Count, $"Dockerfile: APPS publishes {string.Join(", ", apps.Keys)}, not the described services.");
        int restore = dockerfile.IndexOf("dotnet restore", StringComparison.Ordinal);
        int copyAll = dockerfile.IndexOf("COPY . .", StringComparison.Ordinal);
        Assert.True(restore > 0 && copyAll > restore, "Dockerfile: restore before copying the whole tree, so the restore layer is cached.");
        foreach (string project in Description.Services.SelectMany(s => WithReferences(s.Project)).Distinct())
        {
            int copy = dockerfile.IndexOf($"COPY {project} ", StringComparison.Ordinal);
            Assert.True(copy > 0 && copy < restore, $"Dockerfile: copy {project} before the restore, or restoring needs the whole tree.");
        }

        Assert.Matches(@"\nUSER \$APP_UID\n", dockerfile);
        string dockerignore = Read(".dockerignore");
        foreach (string ignored in new[] { "**/bin/", "**/obj/", ".git/", "**/node_modules/" })
        {
            Assert.True(dockerignore.Split('\n').Contains(ignored), $".dockerignore should exclude {ignored}.");
        }
    }

    [Fact]
    public void Each_services_appsettings_listen_on_the_described_ports()
    {
        foreach (var service in Description.Services)
        {
            foreach (string file in Directory.GetFiles(Path.Combine(Suite.RepoRoot, service.ProjectDirectory), "appsettings*.json"))
            {
                var settings = Flatten(file);
                var endpoints = settings.Keys.Where(k => k.StartsWith("Kestrel:Endpoints:", StringComparison.Ordinal) && k.EndsWith(":Url", StringComparison.Ordinal));
                foreach (string key in endpoints)
                {
                    string listener = key.Split(':')[2];
                    var described = service.Listeners.FirstOrDefault(l => l.Name == listener);
                    Assert.True(described is not null, $"{Path.GetRelativePath(Suite.RepoRoot, file)}: {service.Name} listens on {listener}, which deploy/services.json does not describe.");
                    Assert.True(settings[key].EndsWith($":{described.Port}", StringComparison.Ordinal),
                        $"{Path.GetRelativePath(Suite.RepoRoot, file)}: {service.Name}'s {listener} is {settings[key]}, deploy/services.json says port {described.Port}.");
                }
            }

            var defaults = Flatten(Path.Combine(Suite.RepoRoot, service.ProjectDirectory, "appsettings.json"));
            foreach (var listener in service.Listeners)
            {
                Assert.True(defaults.ContainsKey($"Kestrel:Endpoints:{listener.Name}:Url"), $"{service.ProjectDirectory}/appsettings.json has no default for {service.Name}'s {listener.Name} listener.");
            }
        }
    }

    [Fact]
    public void No_settings_file_outside_the_tests_holds_a_secret()
    {
        var files = Directory.EnumerateFiles(Suite.RepoRoot, "*.json", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Suite.RepoRoot, f))
            .Where(f => (Path.GetFileName(f).StartsWith("appsettings", StringComparison.Ordinal) || Path.GetFileName(f) == "launchSettings.json")
                && !f.StartsWith("tests", StringComparison.Ordinal)
                && !f.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj" or "node_modules" or ".git"));
        foreach (string file in files)
        {
            foreach (var (key, value) in Flatten(Path.Combine(Suite.RepoRoot, file)))
            {
                Assert.False(Description.Secrets.Keys.Any(secret => key.EndsWith(secret, StringComparison.OrdinalIgnoreCase)),
                    $"{file} holds the secret {key}: deployments provide it (Development generates it, see DevelopmentSecrets).");
                Assert.False(Password().IsMatch(value), $"{file}: {key} holds a password.");
            }
        }
    }

    [Fact]
    public void Only_the_issuers_hold_a_signing_key_each_its_own_and_the_receivers_only_public_keys()
    {
        foreach (var service in Description.Services)
        {
            var signing = service.Settings.Where(s => s.StartsWith("Internal:SigningKeys:", StringComparison.Ordinal)).ToList();
            string[] expected = service.Name is "gateway" or "publisher" ? [$"Internal:SigningKeys:{service.Name}"] : [];
            Assert.True(signing.SequenceEqual(expected),
                $"deploy/services.json: {service.Name} holds the signing keys [{string.Join(", ", signing)}]; only the gateway and the publisher sign, each with its own.");
        }

        Assert.Equal(["Internal:TrustedKeys:gateway"], Description["webhooks"].Settings.Where(s => s.StartsWith("Internal:", StringComparison.Ordinal)));
        Assert.Equal(["Internal:TrustedKeys:gateway", "Internal:TrustedKeys:publisher"],
            Description["scheduling"].Settings.Where(s => s.StartsWith("Internal:", StringComparison.Ordinal)).Order());
    }

    [Fact]
    public void Suite_gives_every_service_every_required_setting_and_wires_it_to_the_listeners_described()
    {
        string Url(string service, string listener) => $"http://127.0.0.1:{Description[service].Listeners.Single(l => l.Name == listener).Port}";
        var environments = Suite.Environments(Url, "Host=127.0.0.1;Database=x", new RabbitMqServer("127.0.0.1", 5672, "u", "p", new Uri("http://127.0.0.1:15672/")), "vhost");
        foreach (var service in Description.Services)
        {
            Assert.True(environments.TryGetValue(service.Name, out var environment), $"Suite starts no {service.Name}.");
            foreach (string setting in service.RequiredSettings)
            {
                Assert.False(string.IsNullOrEmpty(environment.GetValueOrDefault(Deployment.EnvironmentKey(setting))), $"Suite does not give {service.Name} {setting}.");
            }

            foreach (var listener in service.Listeners)
            {
                Assert.True(environment.GetValueOrDefault(Deployment.ListenerKey(listener.Name)) == Url(service.Name, listener.Name), $"Suite does not set {service.Name}'s {listener.Name} listener.");
            }

            foreach (var (setting, target) in service.Wiring)
            {
                Assert.True(environment[Deployment.EnvironmentKey(setting)] == Url(target.Service, target.Listener),
                    $"Suite: {service.Name}'s {setting} should point at {target.Service}.{target.Listener}.");
            }
        }
    }

    [Fact]
    public void Run_sh_has_a_value_for_every_required_setting_and_exports_every_variable_compose_requires()
    {
        string run = Read("run.sh");
        Assert.Contains("deploy/services.json", run, StringComparison.Ordinal);
        var table = SettingTable().Match(run);
        Assert.True(table.Success, "run.sh: no `declare -A SETTING=(...)` table of setting values.");
        var values = SettingEntry().Matches(table.Groups[1].Value).Select(m => m.Groups[1].Value).ToHashSet();
        foreach (var service in Description.Services)
        {
            foreach (string setting in service.Settings)
            {
                Assert.True(values.Contains(setting), $"run.sh has no value for {setting}, which {service.Name} requires (its SETTING table).");
            }
        }

        var exported = Export().Matches(run).SelectMany(m => m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(word => word.Split('=')[0]).ToHashSet();
        foreach (string variable in RequiredVariable().Matches(Read("docker-compose.yml")).Select(m => m.Groups[1].Value).Distinct())
        {
            Assert.True(exported.Contains(variable), $"docker-compose.yml requires {variable}, and run.sh does not export it before `docker compose up`.");
        }
    }

    // The project and every project it references, as repository paths.
    private static IEnumerable<string> WithReferences(string project)
    {
        yield return project;
        string directory = Path.GetDirectoryName(Path.Combine(Suite.RepoRoot, project))!;
        foreach (var reference in XDocument.Load(Path.Combine(Suite.RepoRoot, project)).Descendants("ProjectReference"))
        {
            string path = Path.GetRelativePath(Suite.RepoRoot, Path.GetFullPath(Path.Combine(directory, reference.Attribute("Include")!.Value)));
            foreach (string transitive in WithReferences(path.Replace('\\', '/')))
            {
                yield return transitive;
            }
        }
    }

    private static Dictionary<string, YamlNode> Compose()
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(Read("docker-compose.yml")));
        return Map(yaml.Documents[0].RootNode);
    }

    // A mapping with its merge keys (<<: *anchor, <<: [*a, *b]) resolved: its own keys win, then the earlier merge.
    private static Dictionary<string, YamlNode> Map(YamlNode node)
    {
        var result = new Dictionary<string, YamlNode>();
        var merges = new List<YamlNode>();
        foreach (var (key, value) in ((YamlMappingNode)node).Children)
        {
            if (Scalar(key) == "<<")
            {
                merges.AddRange(value is YamlSequenceNode sequence ? sequence.Children : [value]);
            }
            else
            {
                result[Scalar(key)] = value;
            }
        }

        foreach (var merged in merges)
        {
            foreach (var (key, value) in Map(merged))
            {
                result.TryAdd(key, value);
            }
        }

        return result;
    }

    private static string Scalar(YamlNode node) => ((YamlScalarNode)node).Value ?? "";

    // Configuration keys (Section:Key) and their values, as the JSON configuration provider reads them.
    private static Dictionary<string, string> Flatten(string file)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        using var document = JsonDocument.Parse(File.ReadAllText(file));
        void Walk(JsonElement element, string prefix)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        Walk(property.Value, prefix.Length == 0 ? property.Name : $"{prefix}:{property.Name}");
                    }

                    break;
                case JsonValueKind.Array:
                    int i = 0;
                    foreach (var item in element.EnumerateArray())
                    {
                        Walk(item, $"{prefix}:{i++}");
                    }

                    break;
                default:
                    result[prefix] = element.ToString();
                    break;
            }
        }

        Walk(document.RootElement, "");
        return result;
    }

    [GeneratedRegex(@"\$\{(?<name>\w+):?-(?<default>[^}]*)\}")]
    private static partial Regex Fallback();

    [GeneratedRegex(@"^\$\{\w+:\?[^}]*\}$")]
    private static partial Regex Required();

    [GeneratedRegex(@"\$\{(\w+)")]
    private static partial Regex Variable();

    [GeneratedRegex(@"\$\{(\w+):\?")]
    private static partial Regex RequiredVariable();

    [GeneratedRegex(@"ARG APPS=""([^""]*)""")]
    private static partial Regex AppsArg();

    [GeneratedRegex(@"declare -A SETTING=\(\n(.*?)\n\)", RegexOptions.Singleline)]
    private static partial Regex SettingTable();

    [GeneratedRegex(@"^\s*\[([^\]]+)\]=", RegexOptions.Multiline)]
    private static partial Regex SettingEntry();

    [GeneratedRegex(@"^\s*export ([^\n]*)", RegexOptions.Multiline)]
    private static partial Regex Export();

    [GeneratedRegex(@"Password=[^;\s]+", RegexOptions.IgnoreCase)]
    private static partial Regex Password();
}
