using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using RabbitMQ.Client;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Repository.Tests;

/// <summary>A virtual host of its own on the real broker, provisioned by deploy/rabbitmq/provision.sh once for the class.</summary>
public sealed class ProvisionedBroker : IAsyncLifetime, IAsyncDisposable
{
    private readonly TestResources _resources = new();

    public string Prefix { get; } = $"{Infrastructure.TestPrefix}{Guid.NewGuid():N}-";

    public Dictionary<string, string> Passwords { get; } = BrokerUsers.Permissions.ToDictionary(
        p => p.Service, _ => Convert.ToHexString(RandomNumberGenerator.GetBytes(16)));

    public RabbitMqServer Rabbit { get; private set; } = null!;

    public string VirtualHost { get; private set; } = "";

    /// <summary>Whether guest held permissions on the virtual host before provision.sh ran (it is given them at creation).</summary>
    public bool GuestHadPermissions { get; private set; }

    public async Task InitializeAsync()
    {
        (Rabbit, VirtualHost) = await _resources.CreateVirtualHostAsync();
        _resources.Add(new Cleanup(DeleteUsersAsync));
        GuestHadPermissions = await GuestHasPermissionsAsync();
        await ProvisionAsync();
    }

    public Task DisposeAsync() => _resources.DisposeAsync().AsTask();

    ValueTask IAsyncDisposable.DisposeAsync() => _resources.DisposeAsync();

    public async Task<bool> GuestHasPermissionsAsync()
    {
        using var http = Infrastructure.ManagementClient(Rabbit);
        using var response = await http.GetAsync($"api/permissions/{Uri.EscapeDataString(VirtualHost)}/guest");
        return response.IsSuccessStatusCode;
    }

    public ConnectionFactory Factory(string user, string password) => new()
    {
        HostName = Rabbit.Host,
        Port = Rabbit.Port,
        VirtualHost = VirtualHost,
        UserName = user,
        Password = password,
        AutomaticRecoveryEnabled = false,
    };

    private async Task ProvisionAsync()
    {
        var start = new ProcessStartInfo("bash", [Path.Combine(Suite.RepoRoot, "deploy", "rabbitmq", "provision.sh"), VirtualHost])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        start.Environment["RABBITMQCTL"] = await Infrastructure.RabbitMqCtlAsync();
        start.Environment["SP_RABBITMQ_USER_PREFIX"] = Prefix;
        foreach (var (service, password) in Passwords)
        {
            start.Environment[BrokerUsers.PasswordVariable(service)] = password;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        string errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"provision.sh failed ({process.ExitCode}): {await output}{errors}");
    }

    private async Task DeleteUsersAsync()
    {
        using var http = Infrastructure.ManagementClient(Rabbit);
        foreach (string service in Passwords.Keys)
        {
            using var _ = await http.DeleteAsync($"api/users/{Uri.EscapeDataString(Prefix + service)}");
        }
    }

    private sealed class Cleanup(Func<Task> undo) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await undo();
    }
}

/// <summary>
/// deploy/rabbitmq/provision.sh run against the real broker: what each service's user may do on the virtual host, and
/// that guest may do nothing there. (Every end-to-end run shows that the same permissions are enough to work.)
/// </summary>
public sealed class BrokerPermissionsTests(ProvisionedBroker broker) : IClassFixture<ProvisionedBroker>
{
    private const string PostEvent = "ScheduledPosts.Contracts.Messages:PostEvent";
    private const string TargetDue = "ScheduledPosts.Contracts.Messages:TargetDue";
    private const string AccountEvent = "ScheduledPosts.Contracts.Messages:AccountEvent";
    private const string AccountReauthRequired = "ScheduledPosts.Contracts.Messages:AccountReauthRequired";

    private static readonly CreateChannelOptions Confirmed = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    [Fact]
    public async Task The_publishers_user_cannot_publish_a_post_event_and_the_scheduling_services_can()
    {
        await using (var scheduling = await ConnectAsync("scheduling"))
        {
            await using var channel = await scheduling.CreateChannelAsync(Confirmed);
            await channel.ExchangeDeclareAsync(PostEvent, ExchangeType.Fanout, durable: true);
            await channel.BasicPublishAsync(PostEvent, "", Encoding.UTF8.GetBytes("{}"));
        }

        await using var publisher = await ConnectAsync("publisher");
        await using var forging = await publisher.CreateChannelAsync(Confirmed);
        var refused = await Record.ExceptionAsync(async () => await forging.BasicPublishAsync(PostEvent, "", Encoding.UTF8.GetBytes("{\"workspaceId\":\"ws_victim\"}")));

        Assert.NotNull(refused);
        Assert.Equal(403, await CloseCodeAsync(forging));
    }

    [Fact]
    public async Task An_account_event_the_scheduling_service_publishes_reaches_the_webhooks_queue_and_the_publisher_cannot_forge_one()
    {
        // The topology MassTransit declares: the concrete type's exchange bound to AccountEvent's, which feeds the
        // webhooks service's exchange and queue of the same name.
        await using (var scheduling = await ConnectAsync("scheduling"))
        {
            await using var channel = await scheduling.CreateChannelAsync();
            await channel.ExchangeDeclareAsync(AccountEvent, ExchangeType.Fanout, durable: true);
            await channel.ExchangeDeclareAsync(AccountReauthRequired, ExchangeType.Fanout, durable: true);
            await channel.ExchangeBindAsync(AccountEvent, AccountReauthRequired, "");
        }

        const string queue = "webhooks-account-events";
        await using var webhooks = await ConnectAsync("webhooks");
        await using (var channel = await webhooks.CreateChannelAsync())
        {
            await channel.ExchangeDeclareAsync(queue, ExchangeType.Fanout, durable: true);
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
            await channel.QueueBindAsync(queue, queue, "");
            await channel.ExchangeBindAsync(queue, AccountEvent, "");
        }

        await using (var scheduling = await ConnectAsync("scheduling"))
        {
            await using var channel = await scheduling.CreateChannelAsync(Confirmed);
            await channel.BasicPublishAsync(AccountReauthRequired, "", Encoding.UTF8.GetBytes("{}"));
        }

        await using (var reading = await webhooks.CreateChannelAsync())
        {
            var message = await Eventually.Until(() => reading.BasicGetAsync(queue, autoAck: true), m => m is not null, TimeSpan.FromSeconds(10), "the account event");
            Assert.Equal("{}", Encoding.UTF8.GetString(message!.Body.Span));
        }

        await using var publisher = await ConnectAsync("publisher");
        await using var forging = await publisher.CreateChannelAsync(Confirmed);
        await Record.ExceptionAsync(async () => await forging.BasicPublishAsync(AccountReauthRequired, "", Encoding.UTF8.GetBytes("{}")));
        Assert.Equal(403, await CloseCodeAsync(forging));
    }

    [Fact]
    public async Task The_webhooks_services_user_cannot_publish_a_due_target_nor_read_the_publishers_queue()
    {
        await using (var scheduling = await ConnectAsync("scheduling"))
        {
            await using var channel = await scheduling.CreateChannelAsync();
            await channel.ExchangeDeclareAsync(TargetDue, ExchangeType.Fanout, durable: true);
        }

        await using (var publisher = await ConnectAsync("publisher"))
        {
            await using var channel = await publisher.CreateChannelAsync();
            await channel.QueueDeclareAsync("target-due", durable: true, exclusive: false, autoDelete: false);
        }

        await using var webhooks = await ConnectAsync("webhooks");
        await using var publishing = await webhooks.CreateChannelAsync(Confirmed);
        await Record.ExceptionAsync(async () => await publishing.BasicPublishAsync(TargetDue, "", Encoding.UTF8.GetBytes("{}")));
        Assert.Equal(403, await CloseCodeAsync(publishing));

        await using var reading = await webhooks.CreateChannelAsync();
        await Record.ExceptionAsync(async () => await reading.BasicGetAsync("target-due", autoAck: true));
        Assert.Equal(403, await CloseCodeAsync(reading));
    }

    [Fact]
    public async Task The_monitor_user_reads_the_queue_depths_from_the_management_API_and_can_neither_consume_nor_publish()
    {
        const string queue = "target-due";
        await using (var scheduling = await ConnectAsync("scheduling"))
        {
            await using var channel = await scheduling.CreateChannelAsync();
            await channel.ExchangeDeclareAsync(TargetDue, ExchangeType.Fanout, durable: true);
        }

        await using (var publisher = await ConnectAsync("publisher"))
        {
            await using var channel = await publisher.CreateChannelAsync();
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        }

        string monitor = broker.Prefix + BrokerUsers.SchedulingMonitor;
        using var management = new HttpClient { BaseAddress = broker.Rabbit.ManagementUrl };
        management.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{monitor}:{broker.Passwords[BrokerUsers.SchedulingMonitor]}")));
        using (var queues = await management.GetAsync($"api/queues/{Uri.EscapeDataString(broker.VirtualHost)}?columns=name"))
        {
            Assert.True(queues.IsSuccessStatusCode, $"{(int)queues.StatusCode} {await queues.Content.ReadAsStringAsync()}");
            Assert.Contains($"\"{queue}\"", await queues.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // The management tag does not make it an administrator: it cannot see the users, nor change anything.
        using (var users = await management.GetAsync("api/users"))
        {
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, users.StatusCode);
        }

        await using var connection = await ConnectAsync(BrokerUsers.SchedulingMonitor);
        await using var reading = await connection.CreateChannelAsync();
        await Record.ExceptionAsync(async () => await reading.BasicGetAsync(queue, autoAck: true));
        Assert.Equal(403, await CloseCodeAsync(reading));

        await using var publishing = await connection.CreateChannelAsync(Confirmed);
        await Record.ExceptionAsync(async () => await publishing.BasicPublishAsync(TargetDue, "", Encoding.UTF8.GetBytes("{}")));
        Assert.Equal(403, await CloseCodeAsync(publishing));
    }

    [Fact]
    public async Task Guest_has_no_permission_on_the_virtual_host_and_cannot_open_it()
    {
        Assert.True(broker.GuestHadPermissions, "guest had permissions before provision.sh ran");
        Assert.False(await broker.GuestHasPermissionsAsync());

        // The broker answers connection.open with a close (530 NOT_ALLOWED); the client may report it then or on first use.
        var refused = await Record.ExceptionAsync(async () =>
        {
            await using var connection = await broker.Factory("guest", "guest").CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            await channel.QueueDeclarePassiveAsync("target-due");
        });

        Assert.NotNull(refused);
    }

    // The broker closes a channel on a refused operation; the code is AMQP's: 403 ACCESS_REFUSED.
    private static async Task<int> CloseCodeAsync(IChannel channel)
    {
        await Eventually.Until(() => Task.FromResult(channel.IsClosed), closed => closed, TimeSpan.FromSeconds(10), "the channel to be closed");
        return channel.CloseReason!.ReplyCode;
    }

    private Task<IConnection> ConnectAsync(string service) => broker.Factory(broker.Prefix + service, broker.Passwords[service]).CreateConnectionAsync();
}
