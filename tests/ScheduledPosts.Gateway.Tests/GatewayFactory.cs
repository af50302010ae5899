using ScheduledPosts.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Options;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>The gateway in a test server, on a test class's own database, with its settings injected.</summary>
public sealed class GatewayFactory(IReadOnlyDictionary<string, string?> settings) : WebApplicationFactory<Program>
{
    public const string InternalSecret = FakeService.InternalSecret;
    public const string BootstrapKey = "sp_test-bootstrap-key-0123456789-abcdefghijklmnop";
    public const string AdminToken = "test-admin-token-0123456789-abcdefghijklmnop";

    public static readonly InternalIdentityCodec Codec =
        new(Options.Create(new InternalIdentityOptions { Secret = InternalSecret }), TimeProvider.System);

    /// <param name="scheduling">Where the scheduling cluster points (the appsettings default when null).</param>
    /// <param name="webhooks">Where the webhooks cluster points (the appsettings default when null).</param>
    public static GatewayFactory Create(string connectionString, Uri? scheduling = null, Uri? webhooks = null,
        string? bootstrapKey = BootstrapKey, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = connectionString,
            ["Internal:Secret"] = InternalSecret,
            ["Bootstrap:Key"] = bootstrapKey,
        };
        if (scheduling is not null)
        {
            settings["ReverseProxy:Clusters:scheduling:Destinations:default:Address"] = scheduling.ToString();
        }

        if (webhooks is not null)
        {
            settings["ReverseProxy:Clusters:webhooks:Destinations:default:Address"] = webhooks.ToString();
        }

        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return new GatewayFactory(settings);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }
    }
}
