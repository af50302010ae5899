using ScheduledPosts.Publisher;
using ScheduledPosts.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPublisherServices();

var app = builder.Build();
app.UseServiceDefaults();
// No endpoints of its own: the publisher consumes TargetDue from the bus and calls the scheduling service over gRPC.
app.MapDefaultEndpoints();

await app.RunAsync();
