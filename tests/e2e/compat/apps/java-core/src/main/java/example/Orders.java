package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;

// A POJO in, a POJO out: Lambda's runtime maps them with Jackson-style getters and setters.
public class Orders implements RequestHandler<Orders.Order, Orders.Receipt> {
  public static class Order {
    private String item;
    private int quantity;
    private double price;
    public String getItem() { return item; }
    public void setItem(String item) { this.item = item; }
    public int getQuantity() { return quantity; }
    public void setQuantity(int quantity) { this.quantity = quantity; }
    public double getPrice() { return price; }
    public void setPrice(double price) { this.price = price; }
  }

  public static class Receipt {
    private final String item;
    private final double total;
    public Receipt(String item, double total) { this.item = item; this.total = total; }
    public String getItem() { return item; }
    public double getTotal() { return total; }
  }

  @Override
  public Receipt handleRequest(Order order, Context context) {
    return new Receipt(order.getItem(), order.getQuantity() * order.getPrice());
  }
}
