using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ScheduledPosts.ServiceDefaults;

/// <summary>
/// In Development only: the secrets a developer has not configured, generated once into one file outside the
/// repository that every service reads, so <c>dotnet run</c> works with no setup and the repository holds no secret.
/// All services share the file, so the services trust the keys the gateway and the publisher sign with (each
/// issuer's key pair is generated together: <c>Internal:SigningKeys:&lt;issuer&gt;</c> and <c>Internal:TrustedKeys:&lt;issuer&gt;</c>).
/// A file from before a secret existed gets the missing ones added, once, under a lock.
/// </summary>
public static partial class DevelopmentSecrets
{
    public const string FileName = "development-secrets.json";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The issuers of the internal identity, each with a key pair of its own.</summary>
    private static readonly string[] Issuers = ["gateway", "publisher"];

    /// <summary>Each secret and how to make one that its service's validation accepts.</summary>
    private static readonly Dictionary<string, Func<string>> Generators = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Credentials:Key"] = () => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        ["Webhooks:SecretKey"] = () => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        // URL-safe, so it has no spaces and is easy to paste into a header.
        ["Bootstrap:Key"] = () => "sp_dev_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_'),
    };

    /// <summary><c>$XDG_CONFIG_HOME/scheduledposts/development-secrets.json</c>, else <c>~/.config/scheduledposts/…</c>.</summary>
    public static string DefaultPath =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData, Environment.SpecialFolderOption.DoNotVerify),
            "scheduledposts", FileName);

    public static IHostApplicationBuilder AddDevelopmentSecrets(this IHostApplicationBuilder builder)
    {
        if (!builder.Environment.IsDevelopment())
        {
            return builder;
        }

        var source = new Source(DefaultPath);
        // First source, so whatever the developer configures anywhere (appsettings, user secrets, environment) wins;
        // and it is asked for a secret only when no other source has it, so the file is made only when one is needed.
        builder.Configuration.Sources.Insert(0, source);
        builder.Services.AddHostedService(sp => new Notice(sp.GetRequiredService<ILogger<Notice>>(), source));
        return builder;
    }

    /// <summary>
    /// The secrets in <paramref name="path"/>, created with every secret when missing. Services starting together all
    /// end up with the first one written: each writes a complete file beside it and links it in only if none exists.
    /// </summary>
    public static IReadOnlyDictionary<string, string> LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            var existing = Read(path);
            return Keys.All(existing.ContainsKey) ? existing : AddMissing(path);
        }

        string directory = Path.GetDirectoryName(path)!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var secrets = Generate(new Dictionary<string, string>());
        string temporary = WriteTemporary(directory, secrets);

        try
        {
            // Fails when the file exists: another service got there first, and its secrets are the ones to use.
            File.Move(temporary, path, overwrite: false);
            return secrets;
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temporary);
            return Read(path);
        }
    }

    /// <summary>Every key the file holds.</summary>
    private static IEnumerable<string> Keys => Generators.Keys
        .Concat(Issuers.SelectMany(i => new[] { $"Internal:SigningKeys:{i}", $"Internal:TrustedKeys:{i}" }));

    /// <summary><paramref name="existing"/> and a new value for every secret it lacks.</summary>
    private static Dictionary<string, string> Generate(Dictionary<string, string> existing)
    {
        var secrets = new Dictionary<string, string>(existing, StringComparer.OrdinalIgnoreCase);
        foreach (var (key, generate) in Generators)
        {
            secrets.TryAdd(key, generate());
        }

        foreach (string issuer in Issuers)
        {
            if (!secrets.ContainsKey($"Internal:SigningKeys:{issuer}") || !secrets.ContainsKey($"Internal:TrustedKeys:{issuer}"))
            {
                using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                secrets[$"Internal:SigningKeys:{issuer}"] = key.ExportPkcs8PrivateKeyPem();
                secrets[$"Internal:TrustedKeys:{issuer}"] = key.ExportSubjectPublicKeyInfoPem();
            }
        }

        return secrets;
    }

    private static string WriteTemporary(string directory, Dictionary<string, string> secrets)
    {
        string temporary = Path.Combine(directory, $".{FileName}.{Environment.ProcessId}.{Guid.NewGuid():N}");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(temporary, options);
        JsonSerializer.Serialize(stream, secrets, Indented);
        return temporary;
    }

    /// <summary>
    /// A file written before some secret existed: the first caller to take the lock adds what is missing (keeping
    /// every secret already there, which may decrypt stored data); the others wait for it and read its result.
    /// </summary>
    private static Dictionary<string, string> AddMissing(string path)
    {
        string directory = Path.GetDirectoryName(path)!;
        string lockPath = path + ".lock";
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            FileStream? held = null;
            try
            {
                held = new FileStream(lockPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
                continue;
            }

            using (held)
            {
                var existing = Read(path);
                if (Keys.All(existing.ContainsKey))
                {
                    return existing;
                }

                var secrets = Generate(existing);
                File.Move(WriteTemporary(directory, secrets), path, overwrite: true);
                return secrets;
            }
        }
    }

    private static Dictionary<string, string> Read(string path) =>
        JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path))
        ?? throw new InvalidOperationException($"{path} is not a JSON object of secrets; delete it to have new ones generated.");

    private sealed class Source(string path) : IConfigurationSource
    {
        public string Path => path;

        public Provider? Provider { get; private set; }

        public IConfigurationProvider Build(IConfigurationBuilder builder) => Provider = new Provider(path);
    }

    private sealed class Provider : ConfigurationProvider
    {
        private readonly Lazy<IReadOnlyDictionary<string, string>> _secrets;

        public Provider(string path)
        {
            _secrets = new(() => LoadOrCreate(path));
            // The keys, so sections bind them, without reading the file.
            foreach (string key in Keys)
            {
                Data[key] = null;
            }
        }

        public bool Used => _secrets.IsValueCreated;

        public override bool TryGet(string key, out string? value)
        {
            value = null;
            return Keys.Contains(key, StringComparer.OrdinalIgnoreCase) && _secrets.Value.TryGetValue(key, out value);
        }
    }

    private sealed partial class Notice(ILogger<Notice> logger, Source source) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (source.Provider?.Used == true)
            {
                LogSecretsFile(source.Path);
            }

            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(1, LogLevel.Information, "Development: secrets not configured are read from {Path} (generated once, shared by every service)")]
        private partial void LogSecretsFile(string path);
    }
}
